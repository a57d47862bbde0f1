#include "client/commands/command.h"

#include "absl/strings/numbers.h"
#include "client/import_rows.h"
#include "common/files.h"

namespace leerlus::cli {

client::OutputFormat CommandContext::format() const {
  if (globals.output == "json") return client::OutputFormat::kJson;
  if (globals.output == "csv") return client::OutputFormat::kCsv;
  return client::OutputFormat::kTable;
}

std::string CommandContext::RequestId() const {
  return globals.request_id.empty() ? client::NewRequestId() : globals.request_id;
}

void CommandContext::OnRun(CLI::App* command, std::function<int(client::Client&)> run) {
  command->callback([this, run = std::move(run)] { action = run; });
}

AsOf ParseAsOf(const std::string& text) {
  AsOf as_of;
  if (text.empty()) return as_of;
  if (text.size() == 10 && text[4] == '-' && text[7] == '-') {
    as_of.date = text;
  } else if (!absl::SimpleAtoi(text, &as_of.position)) {
    throw UsageError(
        absl::StrCat("--as-of: '", text, "' is neither a log position nor a date YYYY-MM-DD"));
  }
  return as_of;
}

v1::EffectMeasure ParseMeasure(const std::string& text) {
  return RequireEnum("--measure", text, "EFFECT_MEASURE_", &v1::EffectMeasure_Parse,
                     "smd, md, rr, or, rd, smcc");
}

std::shared_ptr<std::string> AddTestOption(CLI::App* command) {
  auto text = std::make_shared<std::string>();
  command->add_option("--test", *text,
                      "how pooled effects are tested: adhoc (default; Hartung-Knapp, never "
                      "narrower than z), knha, or z (metafor's default)");
  return text;
}

v1::PoolingTest ParseTest(const std::string& text) {
  return RequireEnum("--test", text, "POOLING_TEST_", &v1::PoolingTest_Parse, "adhoc, knha, z");
}

void ParseAttributes(const std::vector<std::string>& pairs, bool force_text,
                     google::protobuf::Map<std::string, v1::AttributeValue>* out) {
  for (const std::string& pair : pairs) {
    size_t equals = pair.find('=');
    if (equals == std::string::npos || equals == 0) {
      throw UsageError(absl::StrCat("'", pair, "' is not name=value"));
    }
    std::string name = pair.substr(0, equals);
    std::string value = pair.substr(equals + 1);
    if (force_text) {
      (*out)[name].set_text_value(value);
    } else {
      (*out)[name] = client::InferAttribute(value, false);
    }
  }
}

int PrintError(const grpc::Status& status) {
  std::cerr << "error: " << client::DescribeStatus(status) << std::endl;
  return client::ExitCodeFor(status);
}

int WriteOutputFile(const std::string& path, const std::string& content) {
  // What the umask allows, as for any file a command writes; durably, since
  // a witness's state must outlive a power loss.
  if (absl::Status written = WriteFileDurably(path, content, 0666); !written.ok()) {
    std::cerr << "error: " << written.message() << std::endl;
    return 3;
  }
  return 0;
}

}  // namespace leerlus::cli
