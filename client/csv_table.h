// Reading CSV files (libcsv): a header row and data rows, UTF-8 with or
// without BOM, comma or semicolon separated (detected from the header),
// quoted fields.
#ifndef LEERLUS_CLIENT_CSV_TABLE_H_
#define LEERLUS_CLIENT_CSV_TABLE_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace leerlus::client {

struct CsvRow {
  // 1-based line number in the file where the row starts (header is line 1).
  size_t line = 0;
  std::vector<std::string> fields;
};

struct CsvTable {
  std::vector<std::string> header;
  std::vector<CsvRow> rows;
  // Column index by (trimmed) header name.
  std::map<std::string, size_t> columns;
  // The field of `row` in column `name`, trimmed; "" if absent.
  std::string Get(const CsvRow& row, absl::string_view name) const;
};

// Parses CSV text. Errors name the line.
absl::StatusOr<CsvTable> ParseCsv(absl::string_view text);
absl::StatusOr<CsvTable> ReadCsvFile(const std::string& path);

}  // namespace leerlus::client

#endif  // LEERLUS_CLIENT_CSV_TABLE_H_
