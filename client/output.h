// Rendering responses for people (table) and scripts (json, csv).
//
// JSON is protobuf's JSON mapping with the proto field names preserved, so
// every language sees the same names. Table and CSV flatten messages by
// reflection: nested fields become dotted columns (`area.code`,
// `context.urbanity`); a response holding a list renders one row per item.
#ifndef LEERLUS_CLIENT_OUTPUT_H_
#define LEERLUS_CLIENT_OUTPUT_H_

#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "google/protobuf/message.h"

namespace leerlus::client {

enum class OutputFormat { kTable, kJson, kCsv };

// One line of JSON (no whitespace) or indented.
std::string ToJson(const google::protobuf::Message& message, bool pretty);

// Flattened (path, text) pairs of a message's set fields.
std::vector<std::pair<std::string, std::string>> Flatten(const google::protobuf::Message& message);

// Renders a whole response. Lists (the first repeated message field, e.g.
// `experiments`) render as rows; anything else as one record.
void Render(const google::protobuf::Message& response, OutputFormat format, std::ostream& out);

// A CSV field: a would-be formula neutralised (NeutraliseFormula), then
// quoted when needed (RFC 4180).
std::string CsvField(const std::string& text);

// Exact text of a double (it reads back as the same double), for exports
// and the data-* attributes of plots.
std::string ExactNumber(double value);

}  // namespace leerlus::client

#endif  // LEERLUS_CLIENT_OUTPUT_H_
