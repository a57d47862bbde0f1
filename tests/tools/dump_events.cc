// Writes the stored bytes of every event of a data directory to a file, each
// preceded by its length (4 bytes, big-endian). Used once per storage format
// to make the fixture that tests/fixture_log_test.cc reads:
//   dump_events DATA_DIR tests/data/fixture_log_v1.bin
#include <fstream>
#include <iostream>

#include "common/serialize.h"
#include "core/model/families.h"
#include "storage/event_store.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: dump_events DATA_DIR OUT_FILE\n";
    return 2;
  }
  auto store = leerlus::model::OpenStore({.path = argv[1]});
  if (!store.ok()) {
    std::cerr << store.status() << "\n";
    return 1;
  }
  std::ofstream out(argv[2], std::ios::binary);
  std::unique_ptr<leerlus::storage::ReadView> view = (*store)->OpenReadView();
  size_t count = 0;
  absl::Status status = view->Scan(leerlus::storage::ColumnFamily::kEvents, "", "",
                                   [&](absl::string_view, absl::string_view bytes) {
                                     const uint32_t size = static_cast<uint32_t>(bytes.size());
                                     const char header[4] = {static_cast<char>(size >> 24),
                                                             static_cast<char>(size >> 16),
                                                             static_cast<char>(size >> 8),
                                                             static_cast<char>(size)};
                                     out.write(header, 4);
                                     out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
                                     ++count;
                                     return true;
                                   });
  if (!status.ok()) {
    std::cerr << status << "\n";
    return 1;
  }
  std::cout << count << " events written to " << argv[2] << "\n";
  return 0;
}
