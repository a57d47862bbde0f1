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

// Bounds on what one file may hold, so that a hostile or broken file is
// refused (naming the line) before it takes the machine's memory.
inline constexpr size_t kMaxCsvColumns = 2000;
inline constexpr size_t kMaxCsvRowBytes = 1 << 20;

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

// A text a spreadsheet would evaluate as a formula (=HYPERLINK(...), @SUM,
// +cmd, a leading tab or CR), neutralised for a CSV file with a leading
// quote, as OWASP recommends; numbers such as -0.5 are left as they are.
// RestoreFormula undoes it exactly, so export and import round-trip, and
// CsvTable::Get applies it to every field it reads.
std::string NeutraliseFormula(absl::string_view text);
std::string RestoreFormula(absl::string_view text);

// Parses CSV text. Errors name the line.
absl::StatusOr<CsvTable> ParseCsv(absl::string_view text);
absl::StatusOr<CsvTable> ReadCsvFile(const std::string& path);

}  // namespace leerlus::client

#endif  // LEERLUS_CLIENT_CSV_TABLE_H_
