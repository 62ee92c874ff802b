// GBNF text to Grammar: a recursive-descent parser over the bytes, every count checked against GrammarLimits.
#include <string>
#include <unordered_map>
#include <utility>

#include "grammar_checks.h"
#include "ternion/core/error.h"
#include "ternion/sampling/grammar.h"
#include "utf8.h"

namespace ternion {

namespace {

bool is_word_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

class GrammarBuilder {
 public:
  GrammarBuilder(std::string_view src, const GrammarLimits& limits) : src_(src), limits_(limits) {}

  Grammar build() {
    if (src_.size() > limits_.max_text) {
      throw Error("grammar: the text has " + std::to_string(src_.size()) + " bytes, more than the limit of " +
                  std::to_string(limits_.max_text));
    }
    skip_space(true);
    while (pos_ < src_.size()) parse_rule();
    return finish();
  }

 private:
  using Rule = std::vector<GrammarElement>;

  [[noreturn]] void fail(const std::string& message, size_t at) const {
    size_t line = 1, col = 1;
    for (size_t i = 0; i < at && i < src_.size(); ++i) {
      if (src_[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    throw Error("grammar: line " + std::to_string(line) + ", column " + std::to_string(col) + ": " + message);
  }
  [[noreturn]] void fail(const std::string& message) const { fail(message, pos_); }

  char peek(size_t ahead = 0) const { return pos_ + ahead < src_.size() ? src_[pos_ + ahead] : '\0'; }
  bool at_end() const { return pos_ >= src_.size(); }

  // Spaces, tabs and comments; newlines too where a rule may continue over lines.
  void skip_space(bool newline_ok) {
    while (!at_end()) {
      const char c = peek();
      if (c == '#') {
        while (!at_end() && peek() != '\n' && peek() != '\r') ++pos_;
      } else if (c == ' ' || c == '\t' || (newline_ok && (c == '\n' || c == '\r'))) {
        ++pos_;
      } else {
        break;
      }
    }
  }

  std::string parse_name() {
    const size_t start = pos_;
    while (is_word_char(peek())) ++pos_;
    if (pos_ == start) fail("expected a rule name");
    return std::string(src_.substr(start, pos_ - start));
  }

  uint32_t parse_uint() {
    if (!is_digit(peek())) fail("expected a number");
    uint64_t v = 0;
    const size_t start = pos_;
    while (is_digit(peek())) {
      v = v * 10 + static_cast<uint64_t>(peek() - '0');
      if (v > limits_.max_repetition) {
        fail("repetition count above the limit of " + std::to_string(limits_.max_repetition), start);
      }
      ++pos_;
    }
    return static_cast<uint32_t>(v);
  }

  uint32_t add_rule_slot(std::string name) {
    if (rules_.size() >= limits_.max_rules) {
      fail("more than " + std::to_string(limits_.max_rules) + " rules");
    }
    rules_.emplace_back();
    names_.push_back(std::move(name));
    first_use_.push_back(pos_);
    return static_cast<uint32_t>(rules_.size() - 1);
  }

  // The rule named `name`, made on its first mention at byte `at` (where an undefined rule's error points).
  uint32_t symbol(const std::string& name, size_t at) {
    auto it = ids_.find(name);
    if (it != ids_.end()) return it->second;
    const uint32_t id = add_rule_slot(name);
    first_use_[id] = at;
    ids_.emplace(name, id);
    return id;
  }

  // A rule of the grammar's own (a group, a repetition): named after the rule it appears in.
  uint32_t generated_rule(const std::string& base) { return add_rule_slot(base + "_" + std::to_string(rules_.size())); }

  void set_rule(uint32_t id, Rule rule) {
    n_elements_ += rule.size();
    if (n_elements_ > limits_.max_elements) {
      fail("more than " + std::to_string(limits_.max_elements) + " grammar elements");
    }
    rules_[id] = std::move(rule);
  }

  void push(Rule& rule, GrammarElement e) {
    if (rule.size() + n_elements_ >= limits_.max_elements) {
      fail("more than " + std::to_string(limits_.max_elements) + " grammar elements");
    }
    rule.push_back(e);
  }

  void parse_rule() {
    const size_t start = pos_;
    const std::string name = parse_name();
    skip_space(false);
    if (src_.substr(pos_, 3) != "::=") fail("expected '::=' after the rule name");
    pos_ += 3;
    skip_space(true);
    const uint32_t id = symbol(name, start);
    if (!rules_[id].empty()) fail("rule '" + name + "' is defined twice", start);
    parse_alternates(id, name, false);
    if (peek() == '\r') ++pos_;
    if (peek() == '\n') {
      ++pos_;
    } else if (!at_end()) {
      fail(std::string("unexpected '") + peek() + "'");
    }
    skip_space(true);
  }

  void parse_alternates(uint32_t id, const std::string& name, bool nested) {
    Rule rule;
    parse_sequence(rule, name, nested);
    while (peek() == '|') {
      ++pos_;
      skip_space(true);
      push(rule, {GrammarOp::kAlt, 0});
      parse_sequence(rule, name, nested);
    }
    push(rule, {GrammarOp::kEnd, 0});
    set_rule(id, std::move(rule));
  }

  // One character of a literal or class: an escape or a UTF-8 sequence.
  uint32_t parse_char() {
    if (peek() != '\\') {
      const Utf8Step step = decode_utf8_at(src_, pos_);
      if (step.length == 0) fail("invalid UTF-8");
      pos_ += step.length;
      return step.code_point;
    }
    const char kind = peek(1);
    const size_t start = pos_;
    pos_ += 2;
    int hex_digits = 0;
    switch (kind) {
      case 'x':
        hex_digits = 2;
        break;
      case 'u':
        hex_digits = 4;
        break;
      case 'U':
        hex_digits = 8;
        break;
      case 't':
        return '\t';
      case 'r':
        return '\r';
      case 'n':
        return '\n';
      case '\\':
      case '"':
      case '[':
      case ']':
        return static_cast<uint32_t>(kind);
      default:
        fail(std::string("unknown escape '\\") + (kind ? std::string(1, kind) : std::string()) + "'", start);
    }
    uint32_t v = 0;
    for (int i = 0; i < hex_digits; ++i) {
      const char c = peek();
      const int d = is_digit(c)              ? c - '0'
                    : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                    : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                             : -1;
      if (d < 0) fail("expected " + std::to_string(hex_digits) + " hex digits", start);
      v = v * 16 + static_cast<uint32_t>(d);
      ++pos_;
    }
    if (v > 0x10FFFF) fail("code point above U+10FFFF", start);
    return v;
  }

  void parse_literal(Rule& rule) {
    ++pos_;  // the opening quote
    while (peek() != '"') {
      if (at_end()) fail("unterminated string literal");
      push(rule, {GrammarOp::kChar, parse_char()});
    }
    ++pos_;
  }

  void parse_class(Rule& rule) {
    const size_t start = pos_;
    ++pos_;  // '['
    GrammarOp first = GrammarOp::kChar;
    if (peek() == '^') {
      ++pos_;
      first = GrammarOp::kCharNot;
    }
    const size_t begin = rule.size();
    while (peek() != ']') {
      if (at_end()) fail("unterminated character class", start);
      const uint32_t lo = parse_char();
      push(rule, {rule.size() == begin ? first : GrammarOp::kCharAlt, lo});
      if (peek() == '-' && peek(1) != ']' && pos_ + 1 < src_.size()) {
        ++pos_;
        const uint32_t hi = parse_char();
        if (hi < lo) fail("character range with its end before its start");
        push(rule, {GrammarOp::kCharUpper, hi});
      }
    }
    if (rule.size() == begin) fail("empty character class", start);
    ++pos_;
  }

  void parse_group(Rule& rule, const std::string& name) {
    if (++depth_ > limits_.max_nesting) fail("parentheses nested deeper than " + std::to_string(limits_.max_nesting));
    ++pos_;
    skip_space(true);
    const uint32_t id = generated_rule(name);
    parse_alternates(id, name, true);
    if (peek() != ')') fail("expected ')' to close the group");
    ++pos_;
    --depth_;
    push(rule, {GrammarOp::kRuleRef, id});
  }

  // x{min,max} (max < 0: unbounded) applied to rule[last..]: min copies, then nested optional rules.
  void repeat(Rule& rule, size_t last, uint32_t min, int64_t max, const std::string& name) {
    if (last == rule.size()) fail("nothing to repeat before the repetition operator");
    Rule item(rule.begin() + static_cast<std::ptrdiff_t>(last), rule.end());
    rule.resize(last);
    if (item.size() > 1) {  // several elements (a literal, a class): one rule, so that copies are one element each
      const uint32_t id = generated_rule(name);
      item.push_back({GrammarOp::kEnd, 0});
      set_rule(id, std::move(item));
      item = {{GrammarOp::kRuleRef, id}};
    }
    for (uint32_t i = 0; i < min; ++i) push(rule, item[0]);
    if (max >= 0 && max < min) fail("repetition with its maximum below its minimum");
    const int64_t optional = max < 0 ? 1 : max - min;
    uint32_t prev = 0;
    for (int64_t i = 0; i < optional; ++i) {
      // star ::= x star | ;  opt_1 ::= x | ;  opt_k ::= x opt_(k-1) |
      const uint32_t id = generated_rule(name);
      Rule r{item[0]};
      if (max < 0) r.push_back({GrammarOp::kRuleRef, id});
      if (max >= 0 && i > 0) r.push_back({GrammarOp::kRuleRef, prev});
      r.push_back({GrammarOp::kAlt, 0});
      r.push_back({GrammarOp::kEnd, 0});
      set_rule(id, std::move(r));
      prev = id;
    }
    if (optional > 0) push(rule, {GrammarOp::kRuleRef, prev});
  }

  void parse_braces(Rule& rule, size_t last, const std::string& name) {
    ++pos_;
    skip_space(true);
    const uint32_t min = parse_uint();
    skip_space(true);
    int64_t max = min;
    if (peek() == ',') {
      ++pos_;
      skip_space(true);
      max = is_digit(peek()) ? static_cast<int64_t>(parse_uint()) : -1;
      skip_space(true);
    }
    if (peek() != '}') fail("expected '}' to close the repetition");
    ++pos_;
    repeat(rule, last, min, max, name);
  }

  void parse_sequence(Rule& rule, const std::string& name, bool nested) {
    size_t last = rule.size();  // where the item a repetition operator applies to starts
    while (!at_end()) {
      const char c = peek();
      const size_t before = rule.size();
      if (c == '"') {
        parse_literal(rule);
        last = before;
      } else if (c == '[') {
        parse_class(rule);
        last = before;
      } else if (is_word_char(c)) {
        const size_t at = pos_;
        const uint32_t id = symbol(parse_name(), at);
        push(rule, {GrammarOp::kRuleRef, id});
        last = before;
      } else if (c == '(') {
        parse_group(rule, name);
        last = before;
      } else if (c == '.') {
        ++pos_;
        push(rule, {GrammarOp::kCharAny, 0});
        last = before;
      } else if (c == '*' || c == '+' || c == '?') {
        ++pos_;
        repeat(rule, last, c == '+' ? 1 : 0, c == '?' ? 1 : -1, name);
        last = rule.size();  // x** is not allowed
      } else if (c == '{') {
        parse_braces(rule, last, name);
        last = rule.size();
      } else {
        break;
      }
      skip_space(nested);
    }
  }

  Grammar finish() {
    auto root = ids_.find("root");
    if (root == ids_.end()) throw Error("grammar: no 'root' rule");
    for (size_t i = 0; i < rules_.size(); ++i) {
      if (rules_[i].empty()) fail("rule '" + names_[i] + "' is not defined", first_use_[i]);
    }
    Grammar g;
    g.root_ = root->second;
    for (Rule& r : rules_) {
      g.rule_start_.push_back(static_cast<uint32_t>(g.elements_.size()));
      g.elements_.insert(g.elements_.end(), r.begin(), r.end());
    }
    g.names_ = std::move(names_);
    check_left_recursion(g);
    return g;
  }

  std::string_view src_;
  const GrammarLimits& limits_;
  size_t pos_ = 0;
  size_t depth_ = 0;
  size_t n_elements_ = 0;
  std::vector<Rule> rules_;
  std::vector<std::string> names_;
  std::vector<size_t> first_use_;
  std::unordered_map<std::string, uint32_t> ids_;
};

Grammar Grammar::parse(std::string_view text, const GrammarLimits& limits) {
  return GrammarBuilder(text, limits).build();
}

}  // namespace ternion
