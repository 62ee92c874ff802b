#include "ternion/sampling/grammar_matcher.h"

#include <algorithm>
#include <string>
#include <utility>

#include "ternion/core/error.h"
#include "utf8.h"

namespace ternion {

namespace {

// Feeds one byte to a partial character: -1 invalid, 0 still partial, 1 complete (`cp` set, `p` reset).
int step_byte(GrammarMatcher::Partial& p, uint8_t b, uint32_t& cp) {
  if (p.remaining == 0) {
    const int n = utf8_sequence_length(b);
    if (n == 0) return -1;
    if (n == 1) {
      cp = b;
      return 1;
    }
    p = {b & (0x7Fu >> n), static_cast<uint8_t>(n - 1), static_cast<uint8_t>(n)};
    return 0;
  }
  if ((b & 0xC0) != 0x80) return -1;
  p.value = (p.value << 6) | (b & 0x3Fu);
  if (--p.remaining > 0) return 0;
  static constexpr uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
  cp = p.value;
  const uint8_t n = p.length;
  p = {};
  if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return -1;
  return 1;
}

// Calls f(lo, hi) for each range of the class starting at `pos`; returns the element after the class.
template <typename F>
uint32_t for_each_range(const std::vector<GrammarElement>& el, uint32_t pos, F&& f) {
  uint32_t i = pos;
  do {
    const uint32_t a = el[i].value;
    uint32_t b = a;
    if (el[i + 1].op == GrammarOp::kCharUpper) b = el[++i].value;
    ++i;
    f(a, b);
  } while (el[i].op == GrammarOp::kCharAlt);
  return i;
}

// Whether the class starting at `pos` matches some code point of [lo, hi]; `next` gets the element after it.
bool class_matches(const std::vector<GrammarElement>& el, uint32_t pos, uint32_t lo, uint32_t hi, uint32_t& next) {
  if (el[pos].op == GrammarOp::kCharAny) {
    next = pos + 1;
    return true;
  }
  if (el[pos].op != GrammarOp::kCharNot) {
    bool hit = false;
    next = for_each_range(el, pos, [&](uint32_t a, uint32_t b) { hit = hit || (a <= hi && lo <= b); });
    return hit;
  }
  // A negated class matches in [lo, hi] unless its ranges cover it all: the lowest uncovered point, if any, is lo
  // or just past the end of one of the ranges.
  auto covered = [&](uint32_t x) {
    bool in = false;
    for_each_range(el, pos, [&](uint32_t a, uint32_t b) { in = in || (a <= x && x <= b); });
    return in;
  };
  bool free = !covered(lo);
  next =
      for_each_range(el, pos, [&](uint32_t, uint32_t b) { free = free || (b < hi && b + 1 >= lo && !covered(b + 1)); });
  return free;
}

uint64_t hash_stack(const uint32_t* s, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; ++i) h = (h ^ s[i]) * 1099511628211ull;
  return h ^ n;
}

}  // namespace

GrammarVocab::GrammarVocab(std::vector<std::string> pieces, std::vector<bool> is_eog)
    : pieces_(std::move(pieces)), is_eog_(std::move(is_eog)) {
  if (pieces_.size() != is_eog_.size()) throw Error("grammar vocabulary: pieces and end flags differ in size");
  // Sorted texts make each node's tokens and children contiguous: build the trie in one pass over them.
  std::vector<int32_t> order;
  for (size_t i = 0; i < pieces_.size(); ++i) {
    if (!pieces_[i].empty() && !is_eog_[i]) order.push_back(static_cast<int32_t>(i));
  }
  std::sort(order.begin(), order.end(),
            [&](int32_t a, int32_t b) { return pieces_[static_cast<size_t>(a)] < pieces_[static_cast<size_t>(b)]; });
  struct Build {
    std::vector<std::pair<uint8_t, uint32_t>> children;
    std::vector<int32_t> tokens;
  };
  std::vector<Build> b(1);
  for (int32_t id : order) {
    uint32_t n = 0;
    for (char c : pieces_[static_cast<size_t>(id)]) {
      const auto byte = static_cast<uint8_t>(c);
      auto& ch = b[n].children;
      if (ch.empty() || ch.back().first != byte) {
        ch.push_back({byte, static_cast<uint32_t>(b.size())});
        b.emplace_back();
      }
      n = b[n].children.back().second;
    }
    b[n].tokens.push_back(id);
    max_piece_ = std::max(max_piece_, pieces_[static_cast<size_t>(id)].size());
  }
  nodes_.resize(b.size());
  for (size_t i = 0; i < b.size(); ++i) {
    Node& node = nodes_[i];
    node.edge_begin = static_cast<uint32_t>(edge_byte_.size());
    for (auto [byte, child] : b[i].children) {
      edge_byte_.push_back(byte);
      edge_child_.push_back(child);
    }
    node.edge_end = static_cast<uint32_t>(edge_byte_.size());
    node.token_begin = static_cast<uint32_t>(tokens_at_.size());
    tokens_at_.insert(tokens_at_.end(), b[i].tokens.begin(), b[i].tokens.end());
    node.token_end = static_cast<uint32_t>(tokens_at_.size());
  }
}

GrammarMatcher::GrammarMatcher(std::shared_ptr<const Grammar> grammar, std::shared_ptr<const GrammarVocab> vocab,
                               const GrammarMatcherLimits& limits)
    : grammar_(std::move(grammar)), vocab_(std::move(vocab)), limits_(limits) {
  if (!grammar_ || !vocab_) throw Error("grammar matcher: needs a grammar and a vocabulary");
  levels_.resize(vocab_->max_piece_bytes() + 1);  // one per trie depth, never resized (levels point at each other)
  const uint32_t root = grammar_->root();
  const auto& el = grammar_->elements();
  // One stack per alternative of the root rule.
  for (uint32_t i = grammar_->rule_start(root);; ++i) {
    if (i == grammar_->rule_start(root) || el[i - 1].op == GrammarOp::kAlt) {
      tmp_.clear();
      if (!ends_sequence(el[i])) tmp_.push_back(i);
      expand(tmp_, stacks_);
    }
    if (el[i].op == GrammarOp::kEnd) break;
  }
}

void GrammarMatcher::add_stack(StackSet& set, const std::vector<uint32_t>& stack) const {
  const uint64_t h = hash_stack(stack.data(), stack.size());
  for (size_t i = 0; i < set.size(); ++i) {
    if (set.hashes[i] != h) continue;
    const uint32_t* s = set.data.data() + set.offsets[i];
    const size_t n = set.offsets[i + 1] - set.offsets[i];
    if (n == stack.size() && std::equal(stack.begin(), stack.end(), s)) return;
  }
  if (set.size() >= limits_.max_stacks) {
    throw Error("grammar: more than " + std::to_string(limits_.max_stacks) +
                " parse stacks at once (the grammar is too ambiguous)");
  }
  set.data.insert(set.data.end(), stack.begin(), stack.end());
  set.offsets.push_back(static_cast<uint32_t>(set.data.size()));
  set.hashes.push_back(h);
}

// Replaces rule references on top of `stack` by their alternatives until every top is a character element (or the
// stack is empty: the grammar is complete), adding the results to `out`. `stack` is used as scratch.
void GrammarMatcher::expand(std::vector<uint32_t>& stack, StackSet& out) {
  const auto& el = grammar_->elements();
  work_.clear();
  work_.data = stack;
  work_.offsets.push_back(static_cast<uint32_t>(stack.size()));
  size_t steps = 0;
  while (work_.size() > 0) {
    const uint32_t begin = work_.offsets[work_.size() - 1];
    stack.assign(work_.data.begin() + begin, work_.data.end());
    work_.data.resize(begin);
    work_.offsets.pop_back();
    if (stack.empty() || el[stack.back()].op != GrammarOp::kRuleRef) {
      add_stack(out, stack);
      continue;
    }
    if (++steps > limits_.max_expansion || stack.size() > limits_.max_depth) {
      throw Error("grammar: the parse needs more than " +
                  std::to_string(steps > limits_.max_expansion ? limits_.max_expansion : limits_.max_depth) +
                  (steps > limits_.max_expansion ? " rule expansions for one character" : " nested rules"));
    }
    const uint32_t pos = stack.back();
    stack.pop_back();
    if (!ends_sequence(el[pos + 1])) stack.push_back(pos + 1);
    const uint32_t rule = el[pos].value;
    for (uint32_t i = grammar_->rule_start(rule);; ++i) {
      if (i == grammar_->rule_start(rule) || el[i - 1].op == GrammarOp::kAlt) {
        work_.data.insert(work_.data.end(), stack.begin(), stack.end());
        if (!ends_sequence(el[i])) work_.data.push_back(i);
        work_.offsets.push_back(static_cast<uint32_t>(work_.data.size()));
      }
      if (el[i].op == GrammarOp::kEnd) break;
    }
  }
}

void GrammarMatcher::advance(const StackSet& from, uint32_t cp, StackSet& out) {
  const auto& el = grammar_->elements();
  out.clear();
  for (size_t i = 0; i < from.size(); ++i) {
    const uint32_t b = from.offsets[i], e = from.offsets[i + 1];
    if (b == e) continue;  // complete: nothing may follow
    const uint32_t pos = from.data[e - 1];
    uint32_t next = 0;
    if (!class_matches(el, pos, cp, cp, next)) continue;
    tmp_.assign(from.data.begin() + b, from.data.begin() + e - 1);
    if (!ends_sequence(el[next])) tmp_.push_back(next);
    if (tmp_.empty() || el[tmp_.back()].op != GrammarOp::kRuleRef) {
      add_stack(out, tmp_);  // the common case (inside a literal or a class loop): nothing to expand
    } else {
      expand(tmp_, out);
    }
  }
}

void GrammarMatcher::advance_cached(const StackSet& from, uint32_t cp, StackSet& out) {
  constexpr size_t kCacheSize = 512;
  if (cache_.empty()) cache_.resize(kCacheSize);
  uint64_t key = from.size() * 0x9E3779B97F4A7C15ull ^ cp;
  for (uint64_t h : from.hashes) key = (key ^ h) * 0x100000001B3ull;
  CacheEntry& e = cache_[(key ^ (key >> 29)) % kCacheSize];
  if (e.used && e.key == key && e.cp == cp && e.from.offsets == from.offsets && e.from.data == from.data) {
    out.data = e.to.data;
    out.offsets = e.to.offsets;
    out.hashes = e.to.hashes;
    return;
  }
  advance(from, cp, out);
  e.key = key;
  e.cp = cp;
  e.used = true;
  e.from.data = from.data;
  e.from.offsets = from.offsets;
  e.from.hashes = from.hashes;
  e.to.data = out.data;
  e.to.offsets = out.offsets;
  e.to.hashes = out.hashes;
}

bool GrammarMatcher::partial_possible(const StackSet& stacks, const Partial& p) const {
  const auto& el = grammar_->elements();
  const uint32_t shift = 6u * p.remaining;
  const uint32_t lo = std::max<uint32_t>(p.value << shift, p.length == 3 ? 0x800 : p.length == 4 ? 0x10000 : 0x80);
  const uint32_t hi = std::min<uint32_t>((p.value << shift) | ((1u << shift) - 1), 0x10FFFF);
  if (lo > hi) return false;
  for (size_t i = 0; i < stacks.size(); ++i) {
    const uint32_t b = stacks.offsets[i], e = stacks.offsets[i + 1];
    uint32_t next = 0;
    if (b != e && class_matches(el, stacks.data[e - 1], lo, hi, next)) return true;
  }
  return false;
}

// Runs `bytes` through `stacks`/`partial` (in place); false as soon as nothing matches.
bool GrammarMatcher::advance_text(std::string_view bytes, StackSet& stacks, Partial& partial) {
  for (char c : bytes) {
    uint32_t cp = 0;
    const int r = step_byte(partial, static_cast<uint8_t>(c), cp);
    if (r < 0) return false;
    if (r == 0) continue;
    advance(stacks, cp, trial2_);
    std::swap(stacks, trial2_);
    if (stacks.size() == 0) return false;
  }
  return partial.remaining == 0 || partial_possible(stacks, partial);
}

bool GrammarMatcher::allows(int32_t token) {
  if (token < 0 || token >= vocab_->n_vocab()) return false;
  if (vocab_->is_eog(token)) return can_end();
  const std::string& piece = vocab_->piece(token);
  if (piece.empty()) return false;
  trial_ = stacks_;
  Partial p = partial_;
  return advance_text(piece, trial_, p);
}

void GrammarMatcher::accept(int32_t token) {
  if (token >= 0 && token < vocab_->n_vocab() && vocab_->is_eog(token) && can_end()) {
    stacks_.clear();  // the output ended
    return;
  }
  if (!allows(token)) throw Error("grammar: token " + std::to_string(token) + " is not allowed here");
  Partial p = partial_;
  trial_ = stacks_;
  advance_text(vocab_->piece(token), trial_, p);
  std::swap(stacks_, trial_);
  partial_ = p;
}

bool GrammarMatcher::accept_text(std::string_view text) {
  trial_ = stacks_;
  Partial p = partial_;
  if (!advance_text(text, trial_, p)) return false;
  std::swap(stacks_, trial_);
  partial_ = p;
  return true;
}

bool GrammarMatcher::can_end() const {
  if (partial_.remaining != 0) return false;
  for (size_t i = 0; i < stacks_.size(); ++i) {
    if (stacks_.offsets[i] == stacks_.offsets[i + 1]) return true;
  }
  return false;
}

bool GrammarMatcher::finished() const { return stacks_.size() == 1 && can_end(); }

void GrammarMatcher::visit(uint32_t node, size_t depth, std::vector<uint8_t>& allowed) {
  const GrammarVocab& v = *vocab_;
  const GrammarVocab::Node& n = v.nodes()[node];
  for (uint32_t t = n.token_begin; t < n.token_end; ++t) allowed[static_cast<size_t>(v.tokens_at()[t])] = 1;
  for (uint32_t e = n.edge_begin; e < n.edge_end; ++e) {
    const Level& cur = levels_[depth];
    Level& nx = levels_[depth + 1];
    nx.partial = cur.partial;
    uint32_t cp = 0;
    const int r = step_byte(nx.partial, v.edge_byte()[e], cp);
    if (r < 0) continue;
    if (r == 0) {
      if (!partial_possible(*cur.stacks, nx.partial)) continue;
      nx.stacks = cur.stacks;
    } else {
      advance_cached(*cur.stacks, cp, nx.own);
      if (nx.own.size() == 0) continue;
      nx.stacks = &nx.own;
    }
    visit(v.edge_child()[e], depth + 1, allowed);
  }
}

void GrammarMatcher::allowed_tokens(std::vector<uint8_t>& allowed) {
  allowed.assign(static_cast<size_t>(vocab_->n_vocab()), 0);
  levels_[0].stacks = &stacks_;
  levels_[0].partial = partial_;
  // The root's own tokens (none: empty texts are not in the trie) are never marked; its children are walked.
  visit(0, 0, allowed);
  if (can_end()) {
    for (int32_t id = 0; id < vocab_->n_vocab(); ++id) {
      if (vocab_->is_eog(id)) allowed[static_cast<size_t>(id)] = 1;
    }
  }
}

}  // namespace ternion
