// Grammars for constrained sampling, written in llama.cpp's GBNF so its grammar files work unchanged:
//   name ::= alternatives          rules; `root` is where a match starts
//   a b   a | b   ( ... )          sequences, alternatives, groups
//   x*  x+  x?  x{m}  x{m,}  x{m,n}  repetition
//   "lit\n"  [a-z\u00e9]  [^"\\]  .  literals (escapes \x \u \U \t \r \n \\ \" \[ \]), classes, negated, any char
//   # comment                      to the end of the line; a rule ends at a newline outside parentheses
// A parsed grammar is a flat list of elements over Unicode code points (the matcher's input, grammar_matcher.h).
// Parsing is bounded (text size, rules, elements, nesting, repetition counts) so a hostile grammar fails with a
// one-line error naming the line and column instead of exhausting memory; left-recursive rules are refused, since a
// top-down matcher would never finish expanding them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ternion {

enum class GrammarOp : uint8_t {
  kEnd,        // end of a rule's last alternative
  kAlt,        // end of an alternative; another follows
  kRuleRef,    // value: the rule
  kChar,       // value: a code point; kCharUpper / kCharAlt elements may follow and extend the class
  kCharNot,    // a negated class: value as kChar
  kCharUpper,  // value: upper end of a range whose lower end is the element before
  kCharAlt,    // value: another code point (or a range's lower end) of the same class
  kCharAny,    // any code point
};

struct GrammarElement {
  GrammarOp op;
  uint32_t value;
};

struct GrammarLimits {
  size_t max_text = 1u << 20;        // bytes of GBNF
  size_t max_rules = 1u << 15;       // rules, the ones groups and repetitions generate included
  size_t max_elements = 1u << 20;    // elements in all rules
  size_t max_nesting = 128;          // parentheses inside each other
  uint32_t max_repetition = 10'000;  // the m and n of {m,n}
};

class Grammar {
 public:
  // Parses GBNF text. Throws Error ("grammar: line L, column C: ...") for malformed text, an undefined rule, a
  // missing `root`, left recursion or text past the limits.
  static Grammar parse(std::string_view text, const GrammarLimits& limits = {});

  // Elements of every rule, one after another; rule r starts at rule_start(r) and its alternatives are separated by
  // kAlt and finished by kEnd.
  const std::vector<GrammarElement>& elements() const { return elements_; }
  uint32_t rule_start(uint32_t rule) const { return rule_start_[rule]; }
  size_t n_rules() const { return rule_start_.size(); }
  uint32_t root() const { return root_; }
  const std::string& rule_name(uint32_t rule) const { return names_[rule]; }

 private:
  friend class GrammarBuilder;
  std::vector<GrammarElement> elements_;
  std::vector<uint32_t> rule_start_;
  std::vector<std::string> names_;
  uint32_t root_ = 0;
};

// True when the element ends a sequence (an alternative).
inline bool ends_sequence(const GrammarElement& e) { return e.op == GrammarOp::kEnd || e.op == GrammarOp::kAlt; }

}  // namespace ternion
