// Reading the reference values the R package metafor printed
// (tests/data/metafor, copied from shared/reference/metafor): key=value
// files and the data sets' CSVs.
#ifndef LEERLUS_TESTS_METAFOR_REFERENCE_H_
#define LEERLUS_TESTS_METAFOR_REFERENCE_H_

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace leerlus::reference {

inline const std::string kMetaforDataDir = std::string(LEERLUS_SOURCE_DIR) + "/tests/data/metafor/";

// "NA" (or anything that is not a number) becomes NaN.
inline double ParseNumber(const std::string& text) {
  double value;
  if (text == "NA" || !absl::SimpleAtod(text, &value)) return std::nan("");
  return value;
}

// key=value lines, split on the first '='.
inline std::map<std::string, std::string> LoadKeyValues(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  std::map<std::string, std::string> values;
  std::string line;
  while (std::getline(in, line)) {
    size_t equals = line.find('=');
    if (equals != std::string::npos) values[line.substr(0, equals)] = line.substr(equals + 1);
  }
  return values;
}

// A CSV of numbers and quoted strings without embedded commas.
struct MetaforTable {
  std::vector<std::string> header;
  std::vector<std::map<std::string, std::string>> rows;
  double Number(size_t row, const std::string& column) const {
    return ParseNumber(rows[row].at(column));
  }
};

inline MetaforTable LoadMetaforCsv(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  MetaforTable table;
  std::string line;
  bool first = true;
  while (std::getline(in, line)) {
    std::vector<std::string> fields;
    for (absl::string_view field : absl::StrSplit(line, ',')) {
      std::string text(field);
      if (text.size() >= 2 && text.front() == '"') text = text.substr(1, text.size() - 2);
      fields.push_back(text);
    }
    if (first) {
      table.header = fields;
      first = false;
      continue;
    }
    std::map<std::string, std::string> row;
    for (size_t i = 0; i < fields.size() && i < table.header.size(); ++i)
      row[table.header[i]] = fields[i];
    table.rows.push_back(row);
  }
  return table;
}

// One key=value reference file, compared within a relative tolerance.
class MetaforReference {
 public:
  MetaforReference(const std::string& label, const std::string& path, double relative_tolerance)
      : label_(label), values_(LoadKeyValues(path)), relative_tolerance_(relative_tolerance) {}

  bool Has(const std::string& key) const { return values_.count(key) > 0; }

  std::string Text(const std::string& key) const {
    auto it = values_.find(key);
    if (it == values_.end()) {
      ADD_FAILURE() << label_ << ": no key " << key;
      return "";
    }
    return it->second;
  }

  double Get(const std::string& key) const { return ParseNumber(Text(key)); }

  // Compares when the reference has the key; counts comparisons.
  void Expect(const std::string& key, double actual) {
    if (!Has(key)) return;
    const double expected = Get(key);
    ++compared_;
    if (std::isnan(expected)) {
      EXPECT_TRUE(std::isnan(actual)) << label_ << " " << key << ": expected NA, got " << actual;
      return;
    }
    const double tolerance = std::max(1e-10, relative_tolerance_ * std::fabs(expected));
    EXPECT_NEAR(actual, expected, tolerance) << label_ << " " << key;
  }

  int compared() const { return compared_; }

 private:
  std::string label_;
  std::map<std::string, std::string> values_;
  double relative_tolerance_;
  int compared_ = 0;
};

}  // namespace leerlus::reference

#endif  // LEERLUS_TESTS_METAFOR_REFERENCE_H_
