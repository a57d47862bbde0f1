#include "client/csv_table.h"

#include <csv.h>

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace leerlus::client {
namespace {

struct ParseState {
  std::vector<std::vector<std::string>> rows;
  std::vector<size_t> row_lines;
  std::vector<std::string> current;
  size_t line = 1;
  size_t row_start_line = 1;
  // Bytes fed since the last row ended.
  size_t row_bytes = 0;
  // Set when a row passes a bound; the parse stops at the line.
  std::string refused;
};

void OnField(void* data, size_t length, void* state_ptr) {
  auto* state = static_cast<ParseState*>(state_ptr);
  if (!state->refused.empty()) return;
  if (state->current.empty()) state->row_start_line = state->line;
  if (state->current.size() >= kMaxCsvColumns) {
    state->refused = absl::StrCat("more than ", kMaxCsvColumns, " columns");
    return;
  }
  state->current.emplace_back(static_cast<const char*>(data), length);
}

void OnRowEnd(int /*terminator*/, void* state_ptr) {
  auto* state = static_cast<ParseState*>(state_ptr);
  state->row_bytes = 0;
  state->rows.push_back(std::move(state->current));
  state->row_lines.push_back(state->row_start_line);
  state->current.clear();
}

// Line breaks as "\n" only. Classic Mac exports end lines with a lone CR,
// which libcsv also takes as the end of a row: counting only LFs would give
// several rows the same line number.
std::string UnixLineEnds(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\r') {
      out.push_back(text[i]);
    } else if (i + 1 >= text.size() || text[i + 1] != '\n') {
      out.push_back('\n');
    }
  }
  return out;
}

}  // namespace

namespace {

// Whether a spreadsheet would take `text` as a formula: it starts with
// = + - @, a tab or a carriage return and is not a plain number (OWASP's
// list), or it is such a text already neutralised with a leading quote.
bool LooksLikeFormula(absl::string_view text) {
  if (text.empty()) return false;
  if (text[0] == '\'') return LooksLikeFormula(text.substr(1));
  if (absl::string_view("=+-@\t\r").find(text[0]) == absl::string_view::npos) return false;
  double number;
  return !absl::SimpleAtod(text, &number);
}

}  // namespace

std::string NeutraliseFormula(absl::string_view text) {
  return LooksLikeFormula(text) ? absl::StrCat("'", text) : std::string(text);
}

std::string RestoreFormula(absl::string_view text) {
  if (!text.empty() && text[0] == '\'' && LooksLikeFormula(text.substr(1))) {
    return std::string(text.substr(1));
  }
  return std::string(text);
}

std::string CsvTable::Get(const CsvRow& row, absl::string_view name) const {
  auto it = columns.find(std::string(name));
  if (it == columns.end() || it->second >= row.fields.size()) return "";
  return RestoreFormula(absl::StripAsciiWhitespace(row.fields[it->second]));
}

absl::StatusOr<CsvTable> ParseCsv(absl::string_view raw) {
  const std::string unix_text = UnixLineEnds(raw);
  absl::string_view text = unix_text;
  absl::ConsumePrefix(&text, "\xEF\xBB\xBF");  // UTF-8 byte order mark.
  // The separator is whichever of ';' and ',' the header line uses more.
  absl::string_view first_line = text.substr(0, text.find('\n'));
  const unsigned char delimiter = std::count(first_line.begin(), first_line.end(), ';') >
                                          std::count(first_line.begin(), first_line.end(), ',')
                                      ? ';'
                                      : ',';
  csv_parser parser;
  if (csv_init(&parser, CSV_APPEND_NULL) != 0) return absl::InternalError("csv_init failed");
  csv_set_delim(&parser, delimiter);
  ParseState state;
  // Feed line by line so rows know where they start.
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    end = end == absl::string_view::npos ? text.size() : end + 1;
    absl::string_view chunk = text.substr(start, end - start);
    // A row (one line, or several when a quoted field holds line breaks)
    // is bounded before libcsv buffers it.
    state.row_bytes += chunk.size();
    if (state.row_bytes > kMaxCsvRowBytes) {
      csv_free(&parser);
      return absl::InvalidArgumentError(
          absl::StrCat("line ", state.line, ": a row longer than ", kMaxCsvRowBytes, " bytes"));
    }
    if (csv_parse(&parser, chunk.data(), chunk.size(), OnField, OnRowEnd, &state) != chunk.size()) {
      std::string error = csv_strerror(csv_error(&parser));
      csv_free(&parser);
      return absl::InvalidArgumentError(absl::StrCat("line ", state.line, ": ", error));
    }
    if (!state.refused.empty()) {
      csv_free(&parser);
      return absl::InvalidArgumentError(absl::StrCat("line ", state.line, ": ", state.refused));
    }
    ++state.line;
    start = end;
  }
  if (csv_fini(&parser, OnField, OnRowEnd, &state) != 0) {
    std::string error = csv_strerror(csv_error(&parser));
    csv_free(&parser);
    return absl::InvalidArgumentError(absl::StrCat("line ", state.line - 1, ": ", error));
  }
  csv_free(&parser);
  if (state.rows.empty()) return absl::InvalidArgumentError("the file has no header row");

  CsvTable table;
  for (std::string& name : state.rows[0]) {
    std::string trimmed = absl::AsciiStrToLower(absl::StripAsciiWhitespace(name));
    if (!trimmed.empty() && !table.columns.emplace(trimmed, table.header.size()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("line 1: column '", trimmed, "' appears twice"));
    }
    table.header.push_back(trimmed);
  }
  for (size_t i = 1; i < state.rows.size(); ++i) {
    bool blank = true;
    for (const std::string& field : state.rows[i]) {
      blank &= absl::StripAsciiWhitespace(field).empty();
    }
    if (blank) continue;
    table.rows.push_back(CsvRow{state.row_lines[i], std::move(state.rows[i])});
  }
  return table;
}

absl::StatusOr<CsvTable> ReadCsvFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open '", path, "'"));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return ParseCsv(buffer.str());
}

}  // namespace leerlus::client
