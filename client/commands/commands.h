// The leerlus subcommands, a group per file: each function adds its
// subcommands to the app and leaves their action in the context.
#ifndef LEERLUS_CLIENT_COMMANDS_COMMANDS_H_
#define LEERLUS_CLIENT_COMMANDS_COMMANDS_H_

#include "CLI/CLI.hpp"
#include "client/commands/command.h"

namespace leerlus::cli {

// method, indicator, area (catalog.cc).
void AddCatalogCommands(CLI::App& app, CommandContext& ctx);
// experiment, hypothesis (experiment.cc).
void AddExperimentCommands(CLI::App& app, CommandContext& ctx);
// outcome, lesson (outcomes.cc).
void AddOutcomeCommands(CLI::App& app, CommandContext& ctx);
// events (events.cc).
void AddEventCommands(CLI::App& app, CommandContext& ctx);
// what-works (insights.cc).
void AddWhatWorksCommand(CLI::App& app, CommandContext& ctx);
// report (report.cc).
void AddReportCommand(CLI::App& app, CommandContext& ctx);
// export (export.cc).
void AddExportCommand(CLI::App& app, CommandContext& ctx);
// scorecard, what-changed, conditions, contribution (insights.cc).
void AddInsightCommands(CLI::App& app, CommandContext& ctx);
// admin, health, token (admin.cc).
void AddAdminCommands(CLI::App& app, CommandContext& ctx);
// checkpoint, audit
void AddAuditCommands(CLI::App& app, CommandContext& ctx);

}  // namespace leerlus::cli

#endif  // LEERLUS_CLIENT_COMMANDS_COMMANDS_H_
