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
int FollowEvents(client::Client& api, client::OutputFormat format, uint64_t from,
                 const std::string& experiment) {
  grpc::ClientContext context;
  api.Authorize(context);
  v1::SubscribeRequest request;
  request.set_from_position(from);
  request.set_experiment_id(experiment);
  std::unique_ptr<grpc::ClientReader<v1::SubscribeResponse>> reader =
      api.event_log()->Subscribe(&context, request);
  v1::SubscribeResponse message;
  while (reader->Read(&message)) {
    if (format == client::OutputFormat::kJson) {
      std::cout << client::ToJson(message.event(), false) << std::endl;
    } else {
      const v1::Event& event = message.event();
      std::cout << event.position() << "  " << event.stream() << "@" << event.stream_version()
                << "  " << event.GetDescriptor()->FindFieldByNumber(event.payload_case())->name()
                << "  " << event.actor() << std::endl;
    }
  }
  grpc::Status status = reader->Finish();
  return status.ok() ? 0 : PrintError(status);
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
  ctx.OnRun(events, [&ctx, request, follow, last](client::Client& api) {
    if (*last > 0) {
      uint64_t from = 0;
      grpc::Status status = StartOfLast(api, *request, *last, &from);
      if (!status.ok()) return PrintError(status);
      request->set_from_position(from);
    }
    if (*follow) {
      return FollowEvents(api, ctx.format(), request->from_position(), request->experiment_id());
    }
    return CallAndRender(api, ctx.format(), &v1::EventLogService::Stub::ReadEvents, api.event_log(),
                         *request);
  });
}

}  // namespace leerlus::cli
