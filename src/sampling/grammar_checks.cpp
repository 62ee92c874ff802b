#include "grammar_checks.h"

#include <cstdint>
#include <vector>

#include "ternion/core/error.h"

namespace ternion {

namespace {

struct Alternative {
  uint32_t rule;
  uint32_t begin, end;  // element range, the separator excluded
};

std::vector<Alternative> alternatives(const Grammar& g) {
  std::vector<Alternative> alts;
  const auto& el = g.elements();
  for (uint32_t r = 0; r < g.n_rules(); ++r) {
    uint32_t begin = g.rule_start(r);
    for (uint32_t i = begin;; ++i) {
      if (!ends_sequence(el[i])) continue;
      alts.push_back({r, begin, i});
      if (el[i].op == GrammarOp::kEnd) break;
      begin = i + 1;
    }
  }
  return alts;
}

// Which rules can match the empty string, in time linear in the grammar: an alternative is nullable once every
// element of it is a rule known to be nullable.
std::vector<bool> nullable_rules(const Grammar& g, const std::vector<Alternative>& alts) {
  const auto& el = g.elements();
  std::vector<bool> nullable(g.n_rules(), false);
  std::vector<uint32_t> missing(alts.size(), 0);          // per alternative: rule references not yet nullable
  std::vector<std::vector<uint32_t>> users(g.n_rules());  // per rule: alternatives that reference it
  std::vector<uint32_t> ready;
  for (uint32_t a = 0; a < alts.size(); ++a) {
    bool terminal = false;
    for (uint32_t i = alts[a].begin; i < alts[a].end; ++i) {
      if (el[i].op != GrammarOp::kRuleRef) {
        terminal = true;
        break;
      }
    }
    if (terminal) continue;
    for (uint32_t i = alts[a].begin; i < alts[a].end; ++i) users[el[i].value].push_back(a);
    missing[a] = alts[a].end - alts[a].begin;
    if (missing[a] == 0) ready.push_back(alts[a].rule);
  }
  while (!ready.empty()) {
    const uint32_t r = ready.back();
    ready.pop_back();
    if (nullable[r]) continue;
    nullable[r] = true;
    for (uint32_t a : users[r]) {
      if (--missing[a] == 0) ready.push_back(alts[a].rule);
    }
  }
  return nullable;
}

}  // namespace

void check_left_recursion(const Grammar& g) {
  const auto& el = g.elements();
  const std::vector<Alternative> alts = alternatives(g);
  const std::vector<bool> nullable = nullable_rules(g, alts);
  // Edges rule -> rule it may start with (after nullable rules only).
  std::vector<std::vector<uint32_t>> first(g.n_rules());
  for (const Alternative& a : alts) {
    for (uint32_t i = a.begin; i < a.end; ++i) {
      if (el[i].op != GrammarOp::kRuleRef) break;
      first[a.rule].push_back(el[i].value);
      if (!nullable[el[i].value]) break;
    }
  }
  // Iterative depth-first search (grammars may have thousands of rules); a grey rule met again is a cycle.
  enum : uint8_t { kWhite, kGrey, kBlack };
  std::vector<uint8_t> colour(g.n_rules(), kWhite);
  std::vector<std::pair<uint32_t, size_t>> stack;
  for (uint32_t start = 0; start < g.n_rules(); ++start) {
    if (colour[start] != kWhite) continue;
    stack.push_back({start, 0});
    colour[start] = kGrey;
    while (!stack.empty()) {
      auto& [r, next] = stack.back();
      if (next == first[r].size()) {
        colour[r] = kBlack;
        stack.pop_back();
        continue;
      }
      const uint32_t to = first[r][next++];
      if (colour[to] == kGrey) throw Error("grammar: rule '" + g.rule_name(to) + "' is left-recursive");
      if (colour[to] == kWhite) {
        colour[to] = kGrey;
        stack.push_back({to, 0});
      }
    }
  }
}

}  // namespace ternion
