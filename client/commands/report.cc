// report: the evaluator's HTML report (and its plots as SVG files).
#include "client/report/report.h"

#include <filesystem>
#include <memory>
#include <string>
#include <system_error>

#include "client/commands/command.h"
#include "client/commands/commands.h"

namespace leerlus::cli {
namespace {

struct ReportFlags {
  client::ReportOptions options;
  std::string as_of;
  std::string since;
  std::string language = "en";
  std::string out;
  std::string svg_dir;
};

// Completes the report's options from the flags given as text.
void ResolveOptions(ReportFlags& flags) {
  client::ReportOptions& options = flags.options;
  const AsOf when = ParseAsOf(flags.as_of);
  options.as_of_position = when.position;
  options.as_of_date = when.date;
  const AsOf earlier = ParseAsOf(flags.since);
  options.since_position = earlier.position;
  options.since_date = earlier.date;
  if (!flags.since.empty() && earlier.position == 0 && earlier.date.empty()) {
    throw UsageError("--since: give a log position from 1 on, or a date YYYY-MM-DD");
  }
  options.language =
      flags.language == "nl" ? client::ReportLanguage::kDutch : client::ReportLanguage::kEnglish;
}

int WriteReport(client::Client& api, ReportFlags& flags) {
  ResolveOptions(flags);
  client::ReportData data;
  grpc::Status status = client::FetchReportData(api, flags.options, &data);
  if (!status.ok()) return PrintError(status);
  if (int code = WriteOutputFile(flags.out, client::RenderReportHtml(data)); code != 0) {
    return code;
  }
  size_t plots = 0;
  if (!flags.svg_dir.empty()) {
    std::error_code error;
    std::filesystem::create_directories(flags.svg_dir, error);
    for (const auto& [name, svg] : client::RenderReportSvgs(data)) {
      if (int code = WriteOutputFile(flags.svg_dir + "/" + name, svg); code != 0) return code;
      ++plots;
    }
  }
  std::cout << "wrote " << flags.out << " (work methods: " << data.what_works.methods_size()
            << "; log position " << data.what_works.read_position() << ")";
  if (!flags.svg_dir.empty()) std::cout << " and " << plots << " SVG plots in " << flags.svg_dir;
  std::cout << "\n";
  return 0;
}

}  // namespace

void AddReportCommand(CLI::App& app, CommandContext& ctx) {
  auto* report = app.add_subcommand(
      "report", "write an evaluator's HTML report (forest plots, conditions, grade, lessons)");
  auto flags = std::make_shared<ReportFlags>();
  report->add_option("--indicator", flags->options.indicator_id)->required();
  report->add_option("--method", flags->options.work_method_ids,
                     "only this work method (repeatable; default: every method)");
  report->add_option("--by", flags->options.by,
                     "compare this condition (default: the conditions that explain most)");
  report->add_option("--as-of", flags->as_of, "report as of a log position or a date YYYY-MM-DD");
  report->add_option("--since", flags->since,
                     "also show what changed since a log position or a date YYYY-MM-DD");
  report->add_option("--lang", flags->language, "en (default) or nl")
      ->check(CLI::IsMember({"en", "nl"}));
  report->add_option("--out", flags->out, "the HTML file to write")->required();
  report->add_option("--svg-dir", flags->svg_dir, "also write each plot as an SVG file here");
  ctx.OnRun(report, [flags](client::Client& api) { return WriteReport(api, *flags); });
}

}  // namespace leerlus::cli
