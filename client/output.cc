#include "client/output.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "client/csv_table.h"
#include "common/text.h"
#include "google/protobuf/util/json_util.h"

namespace leerlus::client {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

std::string ShortEnumName(const google::protobuf::EnumValueDescriptor* value) {
  // EXPERIMENT_STATUS_RUNNING -> RUNNING: strip the enum type's prefix.
  std::string type = value->type()->name();
  std::string prefix;
  for (size_t i = 0; i < type.size(); ++i) {
    if (i > 0 && std::isupper(static_cast<unsigned char>(type[i]))) prefix += '_';
    prefix += static_cast<char>(std::toupper(static_cast<unsigned char>(type[i])));
  }
  prefix += '_';
  const std::string& name = value->name();
  return absl::StartsWith(name, prefix) ? name.substr(prefix.size()) : name;
}

std::string ScalarText(const Message& message, const FieldDescriptor* field, int index) {
  const Reflection* r = message.GetReflection();
  const bool repeated = field->is_repeated();
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return absl::StrCat(repeated ? r->GetRepeatedInt32(message, field, index)
                                   : r->GetInt32(message, field));
    case FieldDescriptor::CPPTYPE_INT64:
      return absl::StrCat(repeated ? r->GetRepeatedInt64(message, field, index)
                                   : r->GetInt64(message, field));
    case FieldDescriptor::CPPTYPE_UINT32:
      return absl::StrCat(repeated ? r->GetRepeatedUInt32(message, field, index)
                                   : r->GetUInt32(message, field));
    case FieldDescriptor::CPPTYPE_UINT64:
      return absl::StrCat(repeated ? r->GetRepeatedUInt64(message, field, index)
                                   : r->GetUInt64(message, field));
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return absl::StrCat(repeated ? r->GetRepeatedDouble(message, field, index)
                                   : r->GetDouble(message, field));
    case FieldDescriptor::CPPTYPE_FLOAT:
      return absl::StrCat(repeated ? r->GetRepeatedFloat(message, field, index)
                                   : r->GetFloat(message, field));
    case FieldDescriptor::CPPTYPE_BOOL:
      return (repeated ? r->GetRepeatedBool(message, field, index) : r->GetBool(message, field))
                 ? "true"
                 : "false";
    case FieldDescriptor::CPPTYPE_ENUM:
      return ShortEnumName(repeated ? r->GetRepeatedEnum(message, field, index)
                                    : r->GetEnum(message, field));
    case FieldDescriptor::CPPTYPE_STRING:
      return repeated ? r->GetRepeatedString(message, field, index) : r->GetString(message, field);
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return "";
  }
  return "";
}

void FlattenInto(const Message& message, const std::string& prefix,
                 std::vector<std::pair<std::string, std::string>>& out) {
  const std::string full_name = message.GetDescriptor()->full_name();
  if (full_name == "google.protobuf.Timestamp") {
    out.emplace_back(prefix, ToJson(message, false));
    out.back().second = absl::StrReplaceAll(out.back().second, {{"\"", ""}});
    return;
  }
  if (full_name == "leerlus.v1.AttributeValue") {
    // The one value that is set, unwrapped.
    std::vector<const FieldDescriptor*> set;
    message.GetReflection()->ListFields(message, &set);
    out.emplace_back(prefix, set.empty() ? "" : ScalarText(message, set.front(), -1));
    return;
  }
  const Reflection* r = message.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(message, &fields);
  for (const FieldDescriptor* field : fields) {
    const std::string path =
        prefix.empty() ? field->name() : absl::StrCat(prefix, ".", field->name());
    if (field->is_map()) {
      // Map entries sorted by key: `context.urbanity`.
      std::map<std::string, const Message*> entries;
      for (int i = 0; i < r->FieldSize(message, field); ++i) {
        const Message& entry = r->GetRepeatedMessage(message, field, i);
        const FieldDescriptor* key = entry.GetDescriptor()->FindFieldByName("key");
        entries[entry.GetReflection()->GetString(entry, key)] = &entry;
      }
      for (const auto& [key, entry] : entries) {
        const FieldDescriptor* value = entry->GetDescriptor()->FindFieldByName("value");
        if (value->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
          FlattenInto(entry->GetReflection()->GetMessage(*entry, value),
                      absl::StrCat(path, ".", key), out);
        } else {
          out.emplace_back(absl::StrCat(path, ".", key), ScalarText(*entry, value, -1));
        }
      }
    } else if (field->is_repeated()) {
      if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
        for (int i = 0; i < r->FieldSize(message, field); ++i) {
          FlattenInto(r->GetRepeatedMessage(message, field, i), absl::StrCat(path, "[", i, "]"),
                      out);
        }
      } else {
        std::vector<std::string> items;
        for (int i = 0; i < r->FieldSize(message, field); ++i)
          items.push_back(ScalarText(message, field, i));
        out.emplace_back(path, absl::StrJoin(items, " "));
      }
    } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      FlattenInto(r->GetMessage(message, field), path, out);
    } else {
      out.emplace_back(path, ScalarText(message, field, -1));
    }
  }
}

// The columns a person wants first when listing these messages in a table;
// CSV and JSON always carry every field.
const std::vector<std::string>* TableColumns(const std::string& message_type) {
  static const std::map<std::string, std::vector<std::string>> kColumns = {
      {"leerlus.v1.Experiment",
       {"id", "status", "kind", "title", "work_method_id", "line", "area.code", "team_id",
        "version"}},
      {"leerlus.v1.Event", {"position", "stream", "stream_version", "type", "actor", "time"}},
      {"leerlus.v1.Area", {"code", "display_name", "level", "update_position"}},
  };
  auto it = kColumns.find(message_type);
  return it == kColumns.end() ? nullptr : &it->second;
}

void RenderRows(const std::vector<std::vector<std::pair<std::string, std::string>>>& rows,
                OutputFormat format, std::ostream& out, const std::string& message_type = "") {
  // Columns in first-seen order; nested lists (path contains '[') are left
  // out of tables to keep one line per row.
  std::vector<std::string> columns;
  std::set<std::string> known;
  const std::vector<std::string>* preferred =
      format == OutputFormat::kTable ? TableColumns(message_type) : nullptr;
  if (preferred != nullptr) {
    columns = *preferred;
    known.insert(columns.begin(), columns.end());
  }
  for (const auto& row : rows) {
    if (preferred != nullptr) break;
    for (const auto& [path, value] : row) {
      if (format == OutputFormat::kTable && path.find('[') != std::string::npos) continue;
      if (known.insert(path).second) columns.push_back(path);
    }
  }
  std::vector<std::map<std::string, std::string>> cells;
  for (const auto& row : rows) {
    auto& cell = cells.emplace_back(row.begin(), row.end());
    // A table shows every text on one visible line: a line break, a
    // carriage return or a bidi override in a title cannot fake a row or
    // overwrite a cell.
    if (format == OutputFormat::kTable) {
      for (auto& [column, value] : cell) value = EscapeForDisplay(value);
    }
  }
  if (format == OutputFormat::kCsv) {
    std::vector<std::string> header;
    for (const std::string& column : columns) header.push_back(CsvField(column));
    out << absl::StrJoin(header, ",") << "\n";
    for (const auto& row : cells) {
      std::vector<std::string> line;
      for (const std::string& column : columns) {
        auto it = row.find(column);
        line.push_back(CsvField(it == row.end() ? "" : it->second));
      }
      out << absl::StrJoin(line, ",") << "\n";
    }
    return;
  }
  std::vector<size_t> widths;
  for (const std::string& column : columns) {
    size_t width = column.size();
    for (const auto& row : cells) {
      auto it = row.find(column);
      if (it != row.end()) width = std::max(width, std::min<size_t>(it->second.size(), 40));
    }
    widths.push_back(width);
  }
  auto print_line = [&](auto value_of) {
    std::string line;
    for (size_t i = 0; i < columns.size(); ++i) {
      std::string value = value_of(i);
      if (value.size() > 40) value = value.substr(0, 37) + "...";
      absl::StrAppend(&line, value,
                      std::string(widths[i] - std::min(widths[i], value.size()) + 2, ' '));
    }
    out << std::string(absl::StripTrailingAsciiWhitespace(line)) << "\n";
  };
  print_line([&](size_t i) { return absl::AsciiStrToUpper(columns[i]); });
  for (const auto& row : cells) {
    print_line([&](size_t i) {
      auto it = row.find(columns[i]);
      return it == row.end() ? std::string() : it->second;
    });
  }
}

}  // namespace

std::string ToJson(const Message& message, bool pretty) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.add_whitespace = pretty;
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(message, &json, options).ok()) return "{}";
  return json;
}

std::vector<std::pair<std::string, std::string>> Flatten(const Message& message) {
  std::vector<std::pair<std::string, std::string>> out;
  FlattenInto(message, "", out);
  return out;
}

std::string CsvField(const std::string& raw) {
  const std::string text = NeutraliseFormula(raw);
  if (text.find_first_of(",\"\n\r;") == std::string::npos) return text;
  return absl::StrCat("\"", absl::StrReplaceAll(text, {{"\"", "\"\""}}), "\"");
}

std::string ExactNumber(double value) {
  // The shortest of %.15g..%.17g that reads back as the same double.
  for (int digits = 15; digits <= 17; ++digits) {
    std::string text = absl::StrFormat("%.*g", digits, value);
    if (std::strtod(text.c_str(), nullptr) == value) return text;
  }
  return absl::StrFormat("%.17g", value);
}

void Render(const Message& response, OutputFormat format, std::ostream& out) {
  if (format == OutputFormat::kJson) {
    out << ToJson(response, true) << "\n";
    return;
  }
  const Reflection* r = response.GetReflection();
  const google::protobuf::Descriptor* descriptor = response.GetDescriptor();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const FieldDescriptor* field = descriptor->field(i);
    if (field->is_repeated() && !field->is_map() &&
        field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      std::vector<std::vector<std::pair<std::string, std::string>>> rows;
      for (int k = 0; k < r->FieldSize(response, field); ++k) {
        const Message& item = r->GetRepeatedMessage(response, field, k);
        rows.push_back(Flatten(item));
        // Events: name the payload kind in a `type` column.
        const google::protobuf::OneofDescriptor* payload =
            item.GetDescriptor()->FindOneofByName("payload");
        if (payload != nullptr) {
          const FieldDescriptor* set = item.GetReflection()->GetOneofFieldDescriptor(item, payload);
          rows.back().emplace_back("type", set == nullptr ? "" : set->name());
        }
      }
      RenderRows(rows, format, out, field->message_type()->full_name());
      return;
    }
  }
  std::vector<std::pair<std::string, std::string>> record = Flatten(response);
  if (format == OutputFormat::kCsv) {
    RenderRows({record}, format, out);
    return;
  }
  size_t width = 0;
  for (const auto& [path, value] : record) width = std::max(width, path.size());
  for (const auto& [path, value] : record) {
    out << path << std::string(width - path.size() + 2, ' ') << EscapeForDisplay(value) << "\n";
  }
}

}  // namespace leerlus::client
