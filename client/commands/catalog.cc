// method, indicator, area: the catalogue the experiments refer to.
#include <memory>
#include <string>
#include <vector>

#include "client/commands/command.h"
#include "client/commands/commands.h"
#include "client/commands/import.h"

namespace leerlus::cli {
namespace {

// Adds `show KEY` and `list` subcommands for one kind of catalogue entry.
template <typename GetRequest, typename GetResponse, typename ListRequest, typename ListResponse>
void AddShowAndList(CLI::App* parent, const std::string& key_name, const std::string& show_help,
                    const std::string& list_help, std::string* (GetRequest::*mutable_key)(),
                    grpc::Status (v1::CatalogService::Stub::*get)(grpc::ClientContext*,
                                                                  const GetRequest&, GetResponse*),
                    grpc::Status (v1::CatalogService::Stub::*list)(grpc::ClientContext*,
                                                                   const ListRequest&,
                                                                   ListResponse*),
                    CommandContext& ctx) {
  auto* show = parent->add_subcommand("show", show_help);
  auto get_request = std::make_shared<GetRequest>();
  show->add_option(key_name, *((*get_request).*mutable_key)())->required();
  ctx.OnRun(show, [&ctx, get_request, get](client::Client& api) {
    return CallAndRender(api, ctx.format(), get, api.catalog(), *get_request);
  });
  auto* list_command = parent->add_subcommand("list", list_help);
  auto list_request = std::make_shared<ListRequest>();
  AddPageOptions(list_command, list_request);
  ctx.OnRun(list_command, [&ctx, list_request, list](client::Client& api) {
    return CallAndRender(api, ctx.format(), list, api.catalog(), *list_request);
  });
}

void AddMethodCommands(CLI::App& app, CommandContext& ctx) {
  auto* method = app.add_subcommand("method", "work methods (werkwijzen)")->require_subcommand(1);
  auto* create = method->add_subcommand("define", "define a work method");
  auto request = std::make_shared<v1::CreateWorkMethodRequest>();
  auto* m = request->mutable_work_method();
  create->add_option("--id", *m->mutable_id(), "stable id")->required();
  create->add_option("--name", *m->mutable_display_name(), "human name")->required();
  create->add_option("--description", *m->mutable_description(), "what the method is");
  ctx.OnRun(create, [&ctx, request](client::Client& api) {
    request->set_request_id(ctx.RequestId());
    return CallAndRender(api, ctx.format(), &v1::CatalogService::Stub::CreateWorkMethod,
                         api.catalog(), *request);
  });
  AddShowAndList(method, "id", "show a work method", "list work methods",
                 &v1::GetWorkMethodRequest::mutable_id, &v1::CatalogService::Stub::GetWorkMethod,
                 &v1::CatalogService::Stub::ListWorkMethods, ctx);
}

void AddIndicatorCommands(CLI::App& app, CommandContext& ctx) {
  auto* indicator = app.add_subcommand("indicator", "indicators")->require_subcommand(1);
  auto* create = indicator->add_subcommand("define", "define an indicator");
  auto request = std::make_shared<v1::CreateIndicatorRequest>();
  auto better = std::make_shared<std::string>();
  auto domain = std::make_shared<std::string>();
  auto* i = request->mutable_indicator();
  create->add_option("--id", *i->mutable_id(), "stable id")->required();
  create->add_option("--name", *i->mutable_display_name(), "human name")->required();
  create->add_option("--description", *i->mutable_description());
  create->add_option("--unit", *i->mutable_unit(), "e.g. \"score 1-10\"");
  create->add_option("--better", *better, "higher or lower")->required();
  create->add_option("--domain", *domain, "personal, social or environmental")->required();
  ctx.OnRun(create, [&ctx, request, better, domain](client::Client& api) {
    auto* ind = request->mutable_indicator();
    ind->set_better_direction(RequireEnum("--better", *better, "BETTER_DIRECTION_",
                                          &v1::BetterDirection_Parse, "higher, lower"));
    ind->set_domain(RequireEnum("--domain", *domain, "RESOURCE_DOMAIN_", &v1::ResourceDomain_Parse,
                                "personal, social, environmental"));
    request->set_request_id(ctx.RequestId());
    return CallAndRender(api, ctx.format(), &v1::CatalogService::Stub::CreateIndicator,
                         api.catalog(), *request);
  });
  AddShowAndList(indicator, "id", "show an indicator", "list indicators",
                 &v1::GetIndicatorRequest::mutable_id, &v1::CatalogService::Stub::GetIndicator,
                 &v1::CatalogService::Stub::ListIndicators, ctx);
}

void AddAreaCommands(CLI::App& app, CommandContext& ctx) {
  auto* area =
      app.add_subcommand("area", "areas by CBS code, with attributes")->require_subcommand(1);
  auto* define = area->add_subcommand("define", "define an area or load new attribute values");
  auto request = std::make_shared<v1::PutAreaRequest>();
  auto attributes = std::make_shared<std::vector<std::string>>();
  define
      ->add_option("--code", *request->mutable_area()->mutable_code(),
                   "CBS code: PVnn, GMnnnn, WKnnnnnn, BUnnnnnnnn")
      ->required();
  define->add_option("--name", *request->mutable_area()->mutable_display_name())->required();
  define->add_option("--attr", *attributes, "attribute name=value (repeatable)");
  ctx.OnRun(define, [&ctx, request, attributes](client::Client& api) {
    ParseAttributes(*attributes, false, request->mutable_area()->mutable_attributes());
    request->set_request_id(ctx.RequestId());
    return CallAndRender(api, ctx.format(), &v1::CatalogService::Stub::PutArea, api.catalog(),
                         *request);
  });
  auto* import_command =
      area->add_subcommand("import", "load areas from a CSV (code, name, attributes...)");
  auto flags = AddImportFlags(import_command, "CSV file");
  ctx.OnRun(import_command, [flags](client::Client& api) {
    return ImportRowByRow(api, flags->file, "areas", flags->decimal_comma,
                          &client::AreaRequestsFromCsv, &v1::CatalogService::Stub::PutArea,
                          api.catalog());
  });
  AddShowAndList(area, "code", "show an area with its current attributes", "list areas",
                 &v1::GetAreaRequest::mutable_code, &v1::CatalogService::Stub::GetArea,
                 &v1::CatalogService::Stub::ListAreas, ctx);
}

}  // namespace

void AddCatalogCommands(CLI::App& app, CommandContext& ctx) {
  AddMethodCommands(app, ctx);
  AddIndicatorCommands(app, ctx);
  AddAreaCommands(app, ctx);
}

}  // namespace leerlus::cli
