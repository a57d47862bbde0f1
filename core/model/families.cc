#include "core/model/families.h"

#include <utility>

#include "common/status_macros.h"
#include "core/model/projector.h"
#include "core/model/read_model.h"

namespace leerlus::model {

storage::LogSchema Schema() {
  storage::LogSchema schema;
  // In the order of families::k*.
  schema.families = {
      {.name = "experiments", .hot = true},
      {.name = "experiment_order"},
      {.name = "outcomes"},
      {.name = "lessons"},
      {.name = "analysis", .hot = true},
      {.name = "catalog", .hot = true},
      {.name = "data_keys", .projection = false},
  };
  schema.projection_format = std::string(kProjectionFormat);
  schema.make_projection =
      [](storage::KeyValueWriter& out) -> std::unique_ptr<storage::Projection> {
    return std::make_unique<Projector>(out);
  };
  schema.decode_chunk = DecodeChunk;
  return schema;
}

absl::StatusOr<std::unique_ptr<storage::EventStore>> OpenStore(storage::StoreOptions options) {
  options.schema = Schema();
  LEERLUS_ASSIGN_OR_RETURN(std::unique_ptr<storage::EventStore> store,
                           storage::EventStore::Open(options));
  // An erasure that crashed before its purge is finished here.
  LEERLUS_RETURN_IF_ERROR(PurgeErasedDataKeys(*store));
  return store;
}

}  // namespace leerlus::model
