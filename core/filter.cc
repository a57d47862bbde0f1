#include "core/filter.h"

#include <cctype>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/errors.h"
#include "common/status_macros.h"
#include "core/experiment_fields.h"
#include "core/validation.h"

namespace leerlus::core {

enum class Op { kEq, kNe, kLt, kLe, kGt, kGe, kHas, kIn };

struct Literal {
  enum class Kind { kText, kNumber, kBool, kWord, kStar } kind;
  std::string text;  // Text, word (bare), or the number's spelling.
  double number = 0;
  bool boolean = false;
};

struct ExperimentFilter::Node {
  enum class Kind { kAnd, kOr, kNot, kCompare } kind;
  std::vector<std::shared_ptr<const Node>> children;
  std::string field;
  const ExperimentField* field_info = nullptr;
  Op op = Op::kEq;
  std::vector<Literal> values;
};

namespace {

using Node = ExperimentFilter::Node;

absl::StatusOr<const ExperimentField*> LookupField(absl::string_view name) {
  const ExperimentField* field = FindExperimentField(name);
  if (field == nullptr) {
    return FieldError("filter",
                      absl::StrCat("unknown field '", name, "'; use ", FilterFieldNames()));
  }
  if (field->type == FieldType::kContext && !IsValidAttributeName(ContextAttributeName(name))) {
    return FieldError("filter", absl::StrCat("'", name, "' is not a valid attribute name"));
  }
  return field;
}

class Parser {
 public:
  explicit Parser(absl::string_view text) : text_(text) {}

  absl::StatusOr<std::shared_ptr<const Node>> ParseAll() {
    LEERLUS_ASSIGN_OR_RETURN(auto node, ParseOr(0));
    SkipSpace();
    if (pos_ != text_.size()) return Error("unexpected input");
    return node;
  }

 private:
  absl::Status Error(absl::string_view what) const {
    return FieldError("filter", absl::StrCat(what, " at position ", pos_ + 1));
  }

  void SkipSpace() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }

  // Consumes keyword `word` if it stands alone (not part of a longer name).
  bool ConsumeKeyword(absl::string_view word) {
    SkipSpace();
    if (text_.substr(pos_, word.size()) != word) return false;
    size_t end = pos_ + word.size();
    if (end < text_.size()) {
      char c = text_[end];
      if (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.') return false;
    }
    pos_ = end;
    return true;
  }

  bool ConsumeChar(char c) {
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  absl::StatusOr<std::shared_ptr<const Node>> ParseOr(int depth) {
    if (depth > kMaxFilterDepth) return Error("nesting deeper than 32 levels");
    LEERLUS_ASSIGN_OR_RETURN(auto first, ParseAnd(depth));
    auto node = std::make_shared<Node>();
    node->kind = Node::Kind::kOr;
    node->children.push_back(first);
    while (ConsumeKeyword("OR")) {
      LEERLUS_ASSIGN_OR_RETURN(auto next, ParseAnd(depth));
      node->children.push_back(next);
    }
    if (node->children.size() == 1) return first;
    return std::shared_ptr<const Node>(node);
  }

  absl::StatusOr<std::shared_ptr<const Node>> ParseAnd(int depth) {
    LEERLUS_ASSIGN_OR_RETURN(auto first, ParseUnary(depth));
    auto node = std::make_shared<Node>();
    node->kind = Node::Kind::kAnd;
    node->children.push_back(first);
    while (ConsumeKeyword("AND")) {
      LEERLUS_ASSIGN_OR_RETURN(auto next, ParseUnary(depth));
      node->children.push_back(next);
    }
    if (node->children.size() == 1) return first;
    return std::shared_ptr<const Node>(node);
  }

  absl::StatusOr<std::shared_ptr<const Node>> ParseUnary(int depth) {
    if (depth > kMaxFilterDepth) return Error("nesting deeper than 32 levels");
    if (ConsumeKeyword("NOT") || ConsumeChar('-')) {
      LEERLUS_ASSIGN_OR_RETURN(auto child, ParseUnary(depth + 1));
      auto node = std::make_shared<Node>();
      node->kind = Node::Kind::kNot;
      node->children.push_back(child);
      return std::shared_ptr<const Node>(node);
    }
    if (ConsumeChar('(')) {
      LEERLUS_ASSIGN_OR_RETURN(auto inner, ParseOr(depth + 1));
      if (!ConsumeChar(')')) return Error("expected ')'");
      return inner;
    }
    return ParseComparison();
  }

  absl::StatusOr<std::string> ParseFieldName() {
    SkipSpace();
    size_t start = pos_;
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.') {
        ++pos_;
      } else {
        break;
      }
    }
    if (pos_ == start) return Error("expected a field name");
    return std::string(text_.substr(start, pos_ - start));
  }

  absl::StatusOr<Op> ParseOp() {
    SkipSpace();
    absl::string_view rest = text_.substr(pos_);
    struct Spelling {
      absl::string_view text;
      Op op;
    };
    static constexpr Spelling kOps[] = {{"!=", Op::kNe}, {"<=", Op::kLe}, {">=", Op::kGe},
                                        {"=", Op::kEq},  {"<", Op::kLt},  {">", Op::kGt},
                                        {":", Op::kHas}};
    for (const Spelling& s : kOps) {
      if (absl::StartsWith(rest, s.text)) {
        pos_ += s.text.size();
        return s.op;
      }
    }
    if (ConsumeKeyword("IN")) return Op::kIn;
    return Error("expected an operator (= != < <= > >= : IN)");
  }

  absl::StatusOr<Literal> ParseValue() {
    SkipSpace();
    if (pos_ >= text_.size()) return Error("expected a value");
    Literal literal;
    char c = text_[pos_];
    if (c == '"') {
      ++pos_;
      std::string out;
      while (pos_ < text_.size() && text_[pos_] != '"') {
        if (text_[pos_] == '\\' && pos_ + 1 < text_.size()) ++pos_;
        out.push_back(text_[pos_++]);
      }
      if (pos_ >= text_.size()) return Error("unterminated string");
      ++pos_;
      literal.kind = Literal::Kind::kText;
      literal.text = std::move(out);
      return literal;
    }
    if (c == '*') {
      ++pos_;
      literal.kind = Literal::Kind::kStar;
      return literal;
    }
    size_t start = pos_;
    while (pos_ < text_.size()) {
      char d = text_[pos_];
      if (std::isalnum(static_cast<unsigned char>(d)) || d == '_' || d == '-' || d == '.' ||
          d == '+') {
        ++pos_;
      } else {
        break;
      }
    }
    if (pos_ == start) return Error("expected a value");
    literal.text = std::string(text_.substr(start, pos_ - start));
    double number;
    if (literal.text == "true" || literal.text == "false") {
      literal.kind = Literal::Kind::kBool;
      literal.boolean = literal.text == "true";
    } else if ((std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '+' || c == '.') &&
               absl::SimpleAtod(literal.text, &number) && std::isfinite(number)) {
      literal.kind = Literal::Kind::kNumber;
      literal.number = number;
    } else {
      literal.kind = Literal::Kind::kWord;
    }
    return literal;
  }

  absl::StatusOr<std::shared_ptr<const Node>> ParseComparison() {
    auto node = std::make_shared<Node>();
    node->kind = Node::Kind::kCompare;
    LEERLUS_ASSIGN_OR_RETURN(node->field, ParseFieldName());
    LEERLUS_ASSIGN_OR_RETURN(node->field_info, LookupField(node->field));
    LEERLUS_ASSIGN_OR_RETURN(node->op, ParseOp());
    if (node->op == Op::kIn) {
      if (!ConsumeChar('(')) return Error("expected '(' after IN");
      do {
        LEERLUS_ASSIGN_OR_RETURN(Literal value, ParseValue());
        node->values.push_back(std::move(value));
      } while (ConsumeChar(','));
      if (!ConsumeChar(')')) return Error("expected ')' to close IN");
    } else {
      LEERLUS_ASSIGN_OR_RETURN(Literal value, ParseValue());
      node->values.push_back(std::move(value));
    }
    LEERLUS_RETURN_IF_ERROR(CheckStatic(*node));
    return std::shared_ptr<const Node>(node);
  }

  // Type checks that do not depend on the data.
  absl::Status CheckStatic(Node& node) {
    const ExperimentField& info = *node.field_info;
    bool ordering =
        node.op == Op::kLt || node.op == Op::kLe || node.op == Op::kGt || node.op == Op::kGe;
    for (Literal& value : node.values) {
      if (value.kind == Literal::Kind::kStar && node.op != Op::kHas) {
        return Error("'*' only works with ':' (presence)");
      }
      switch (info.type) {
        case FieldType::kEnum: {
          if (ordering) {
            return FieldError("filter",
                              absl::StrCat("'", node.field, "' is an enum: use =, != or IN"));
          }
          if (value.kind == Literal::Kind::kStar) break;
          std::string name = absl::AsciiStrToUpper(value.text);
          absl::string_view short_name = name;
          absl::ConsumePrefix(&short_name, info.enum_prefix);
          if (short_name == "UNSPECIFIED" ||
              !info.is_enum_value(absl::StrCat(info.enum_prefix, short_name))) {
            return FieldError(
                "filter", absl::StrCat("'", value.text, "' is not a value of '", node.field, "'"));
          }
          value.kind = Literal::Kind::kWord;
          value.text = absl::StrCat(info.enum_prefix, short_name);
          break;
        }
        case FieldType::kNumber:
          if (value.kind != Literal::Kind::kNumber && value.kind != Literal::Kind::kStar) {
            return FieldError(
                "filter", absl::StrCat("'", node.field, "' is a number; compare it with a number"));
          }
          break;
        case FieldType::kText:
        case FieldType::kTextList:
          if (value.kind == Literal::Kind::kWord || value.kind == Literal::Kind::kNumber) {
            value.kind = Literal::Kind::kText;  // Bare words are text here.
          } else if (value.kind == Literal::Kind::kBool) {
            value.kind = Literal::Kind::kText;
          }
          break;
        case FieldType::kContext:
          break;
      }
    }
    return absl::OkStatus();
  }

  absl::string_view text_;
  size_t pos_ = 0;
};

template <typename T>
bool CompareOrdered(Op op, const T& left, const T& right) {
  switch (op) {
    case Op::kEq:
    case Op::kHas:
    case Op::kIn:
      return left == right;
    case Op::kNe:
      return left != right;
    case Op::kLt:
      return left < right;
    case Op::kLe:
      return left <= right;
    case Op::kGt:
      return left > right;
    case Op::kGe:
      return left >= right;
  }
  return false;
}

absl::StatusOr<bool> MatchOne(const Node& node, const Literal& value, const v1::Experiment& e) {
  absl::string_view field = node.field;
  const ExperimentField& info = *node.field_info;
  const bool presence = value.kind == Literal::Kind::kStar;
  switch (info.type) {
    case FieldType::kText: {
      std::string actual = info.text(e);
      if (presence) return !actual.empty();
      return CompareOrdered(node.op, actual, value.text);
    }
    case FieldType::kEnum: {
      std::string actual = info.text(e);
      if (presence) return !absl::EndsWith(actual, "_UNSPECIFIED");
      return CompareOrdered(node.op, actual, value.text);
    }
    case FieldType::kTextList: {
      const auto& actual = info.texts(e);
      if (presence) return !actual.empty();
      bool found = false;
      for (const std::string& text : actual) found |= text == value.text;
      return node.op == Op::kNe ? !found : found;
    }
    case FieldType::kNumber: {
      if (presence) return true;
      return CompareOrdered(node.op, info.number(e), value.number);
    }
    case FieldType::kContext: {
      const v1::AttributeValue* found = FindContextValue(e, field);
      if (found == nullptr) return false;
      if (presence) return true;
      const v1::AttributeValue& attr = *found;
      auto mismatch = [&](absl::string_view type) {
        return FieldError("filter",
                          absl::StrCat("'", field, "' is a ", type, " attribute (in experiment '",
                                       e.id(), "'); compare it with a ", type));
      };
      switch (attr.kind_case()) {
        case v1::AttributeValue::kNumberValue:
          if (value.kind != Literal::Kind::kNumber) return mismatch("number");
          return CompareOrdered(node.op, attr.number_value(), value.number);
        case v1::AttributeValue::kTextValue:
          if (value.kind != Literal::Kind::kText && value.kind != Literal::Kind::kWord) {
            return mismatch("text");
          }
          return CompareOrdered(node.op, attr.text_value(), value.text);
        case v1::AttributeValue::kBoolValue:
          if (value.kind != Literal::Kind::kBool) return mismatch("boolean");
          if (node.op != Op::kEq && node.op != Op::kNe && node.op != Op::kHas &&
              node.op != Op::kIn) {
            return FieldError("filter", absl::StrCat("'", field, "' is a boolean: use = or !="));
          }
          return CompareOrdered(node.op, attr.bool_value(), value.boolean);
        case v1::AttributeValue::KIND_NOT_SET:
          return false;
      }
      return false;
    }
  }
  return false;
}

absl::StatusOr<bool> Evaluate(const Node& node, const v1::Experiment& e) {
  switch (node.kind) {
    case Node::Kind::kAnd:
      for (const auto& child : node.children) {
        LEERLUS_ASSIGN_OR_RETURN(bool matched, Evaluate(*child, e));
        if (!matched) return false;
      }
      return true;
    case Node::Kind::kOr:
      for (const auto& child : node.children) {
        LEERLUS_ASSIGN_OR_RETURN(bool matched, Evaluate(*child, e));
        if (matched) return true;
      }
      return false;
    case Node::Kind::kNot: {
      LEERLUS_ASSIGN_OR_RETURN(bool matched, Evaluate(*node.children[0], e));
      return !matched;
    }
    case Node::Kind::kCompare:
      if (node.op == Op::kIn) {
        for (const Literal& value : node.values) {
          LEERLUS_ASSIGN_OR_RETURN(bool matched, MatchOne(node, value, e));
          if (matched) return true;
        }
        return false;
      }
      return MatchOne(node, node.values[0], e);
  }
  return false;
}

}  // namespace

absl::StatusOr<ExperimentFilter> ExperimentFilter::Parse(absl::string_view text) {
  ExperimentFilter filter;
  if (text.size() > kMaxFilterLength) {
    return FieldError("filter", absl::StrCat("is ", text.size(), " characters; at most ",
                                             kMaxFilterLength, " are allowed"));
  }
  if (Utf8Length(text) < 0) return FieldError("filter", "is not valid UTF-8");
  if (absl::StripAsciiWhitespace(text).empty()) return filter;
  Parser parser(text);
  LEERLUS_ASSIGN_OR_RETURN(filter.root_, parser.ParseAll());
  return filter;
}

absl::StatusOr<bool> ExperimentFilter::Matches(const v1::Experiment& experiment) const {
  if (root_ == nullptr) return true;
  return Evaluate(*root_, experiment);
}

}  // namespace leerlus::core
