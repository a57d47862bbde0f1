// export: experiments, outcomes or effects as one flat table (CSV or JSON).
#include "client/export.h"

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "client/commands/command.h"
#include "client/commands/commands.h"

namespace leerlus::cli {
namespace {

struct ExportFlags {
  std::string what;
  std::string filter;
  std::string indicator;
  bool include_retracted = false;
  std::string out;
};

// Fetches what `flags.what` names and flattens it into *table.
grpc::Status ExportTable(client::Client& api, const ExportFlags& flags, client::FlatTable* table) {
  std::vector<v1::Experiment> experiments;
  grpc::Status status = client::FetchExperiments(api, flags.filter, &experiments);
  std::vector<v1::WhatWorksResponse> answers;
  if (status.ok() && flags.what != "experiments") {
    status = client::FetchEffects(api, flags.indicator, flags.filter, &answers);
  }
  if (!status.ok()) return status;
  if (flags.what == "experiments") {
    *table = client::ExperimentsTable(experiments);
  } else if (flags.what == "outcomes") {
    *table = client::OutcomesTable(experiments, answers, flags.include_retracted);
    if (!flags.indicator.empty()) {
      std::erase_if(table->rows, [&](const auto& row) {
        return std::get<std::string>(row.at("indicator_id")) != flags.indicator;
      });
    }
  } else {
    *table = client::EffectsTable(experiments, answers);
  }
  return grpc::Status::OK;
}

int Export(client::Client& api, client::OutputFormat format, const ExportFlags& flags) {
  client::FlatTable table;
  grpc::Status status = ExportTable(api, flags, &table);
  if (!status.ok()) return PrintError(status);
  std::ostringstream text;
  if (format == client::OutputFormat::kJson) {
    client::WriteJson(table, text);
  } else {
    client::WriteCsv(table, text);
  }
  if (flags.out.empty()) {
    std::cout << text.str();
    return 0;
  }
  if (int code = WriteOutputFile(flags.out, text.str()); code != 0) return code;
  std::cerr << "wrote " << table.rows.size() << " " << flags.what << " to " << flags.out << "\n";
  return 0;
}

}  // namespace

void AddExportCommand(CLI::App& app, CommandContext& ctx) {
  auto* export_command = app.add_subcommand(
      "export", "write experiments, outcomes or effects as CSV (default) or JSON (-o json)");
  auto flags = std::make_shared<ExportFlags>();
  export_command->add_option("what", flags->what, "experiments, outcomes or effects")
      ->required()
      ->check(CLI::IsMember({"experiments", "outcomes", "effects"}));
  export_command->add_option("--filter", flags->filter,
                             "only experiments matching this filter (as experiment list)");
  export_command->add_option("--indicator", flags->indicator,
                             "outcomes and effects: only this indicator");
  export_command->add_flag("--include-retracted", flags->include_retracted,
                           "outcomes: also retracted ones (with the reason)");
  export_command->add_option("--out", flags->out, "write to this file (default: standard output)");
  ctx.OnRun(export_command,
            [&ctx, flags](client::Client& api) { return Export(api, ctx.format(), *flags); });
}

}  // namespace leerlus::cli
