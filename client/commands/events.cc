// events: read the event log, the last N events, or follow it live.
#include <memory>
#include <string>
#include <vector>

#include "client/commands/command.h"
#include "client/commands/commands.h"

namespace leerlus::cli {
namespace {

// Streams events from `from` on until the server ends the stream or the
// user interrupts: one line each (one JSON object each with -o json).
void PrintEventLine(const v1::Event& event, client::OutputFormat format) {
  if (format == client::OutputFormat::kJson) {
    std::cout << client::ToJson(event, false) << std::endl;
  } else {
    std::cout << event.position() << "  " << event.stream() << "@" << event.stream_version() << "  "
              << event.GetDescriptor()->FindFieldByNumber(event.payload_case())->name() << "  "
              << event.actor() << std::endl;
  }
}

int FollowEvents(client::Client& api, client::OutputFormat format,
                 const v1::ReadEventsRequest& read) {
  grpc::ClientContext context;
  api.Authorize(context);
  v1::SubscribeRequest request;
  request.set_from_position(read.from_position());
  request.set_experiment_id(read.experiment_id());
  request.set_as_stored(read.as_stored());
  std::unique_ptr<grpc::ClientReader<v1::SubscribeResponse>> reader =
      api.event_log()->Subscribe(&context, request);
  v1::SubscribeResponse message;
  while (reader->Read(&message)) {
    if (message.has_event()) PrintEventLine(message.event(), format);
  }
  grpc::Status status = reader->Finish();
  return status.ok() ? 0 : PrintError(status);
}

// Every event from the request's position to the head, one line each (a
// mirror of the log with --as-stored -o json).
int PrintAllEvents(client::Client& api, client::OutputFormat format,
                   v1::ReadEventsRequest request) {
  request.set_page_size(1000);
  while (true) {
    v1::ReadEventsResponse page;
    if (int code = CallOrPrintError(api, &v1::EventLogService::Stub::ReadEvents, api.event_log(),
                                    request, &page);
        code != 0) {
      return code;
    }
    for (const v1::Event& event : page.events()) PrintEventLine(event, format);
    if (page.next_position() > page.head_position()) return 0;
    if (page.next_position() <= request.from_position()) {
      std::cerr << "error: the server's log read did not advance past position "
                << request.from_position() << std::endl;
      return 1;
    }
    request.set_from_position(page.next_position());
  }
}

// Sets *from to where the last `last` events (of the request's experiment,
// if it names one) start.
grpc::Status StartOfLast(client::Client& api, const v1::ReadEventsRequest& request, uint64_t last,
                         uint64_t* from) {
  // Find the head, then read the last N positions before it.
  v1::ReadEventsRequest probe = request;
  probe.set_page_size(1);
  v1::ReadEventsResponse head;
  grpc::Status status =
      api.Call(&v1::EventLogService::Stub::ReadEvents, api.event_log(), probe, &head);
  if (!status.ok()) return status;
  if (request.experiment_id().empty()) {
    *from = head.head_position() > last ? head.head_position() - last + 1 : 1;
    return grpc::Status::OK;
  }
  // Per experiment, walk its stream to find where the last N start.
  v1::ReadEventsRequest all = request;
  all.set_page_size(1000);
  std::vector<uint64_t> positions;
  while (true) {
    v1::ReadEventsResponse page;
    status = api.Call(&v1::EventLogService::Stub::ReadEvents, api.event_log(), all, &page);
    if (!status.ok()) return status;
    for (const auto& event : page.events()) positions.push_back(event.position());
    if (page.events_size() < 1000) break;
    all.set_from_position(page.next_position());
  }
  *from = positions.size() > last ? positions[positions.size() - last] : 1;
  return grpc::Status::OK;
}

}  // namespace

void AddEventCommands(CLI::App& app, CommandContext& ctx) {
  auto* events = app.add_subcommand("events", "read the event log (and follow it)");
  auto request = std::make_shared<v1::ReadEventsRequest>();
  auto follow = std::make_shared<bool>(false);
  auto last = std::make_shared<uint64_t>(0);
  events->add_option("--last", *last, "only the last N events (of the experiment, if given)");
  events->add_option_function<uint64_t>(
      "--from", [request](const uint64_t& v) { request->set_from_position(v); },
      "first position (default 1)");
  events->add_option("--experiment", *request->mutable_experiment_id(), "only this experiment");
  events->add_option_function<int32_t>("--page-size",
                                       [request](const int32_t& v) { request->set_page_size(v); });
  events->add_flag("-f,--follow", *follow, "keep streaming new events until interrupted");
  auto all = std::make_shared<bool>(false);
  events->add_flag("--all", *all, "every event up to the head, one line each");
  events->add_flag_function(
      "--as-stored", [request](int64_t) { request->set_as_stored(true); },
      "events exactly as stored, personal texts sealed: with --all -o json, a mirror that "
      "`leerlus audit --mirror` checks against a checkpoint");
  ctx.OnRun(events, [&ctx, request, follow, all, last](client::Client& api) {
    if (*last > 0) {
      uint64_t from = 0;
      grpc::Status status = StartOfLast(api, *request, *last, &from);
      if (!status.ok()) return PrintError(status);
      request->set_from_position(from);
    }
    if (*follow) return FollowEvents(api, ctx.format(), *request);
    if (*all) return PrintAllEvents(api, ctx.format(), *request);
    return CallAndRender(api, ctx.format(), &v1::EventLogService::Stub::ReadEvents, api.event_log(),
                         *request);
  });
}

}  // namespace leerlus::cli
