// Cutting special-token text out of the input before the tokenizer proper runs (llama.cpp's tokenizer_st_partition).
#include <algorithm>

#include "tokenizer/tokenizer_state.h"

namespace ternion::detail {

namespace {

bool is_special_type(TokenType type) {
  return type == TokenType::Control || type == TokenType::UserDefined || type == TokenType::Unknown;
}

bool needs_parse_special(TokenType type) { return type == TokenType::Control || type == TokenType::Unknown; }

// `ids` is sorted (the Tokenizer sorts the lists).
bool listed(const std::vector<int32_t>& ids, int32_t id) { return std::binary_search(ids.begin(), ids.end(), id); }

// C isspace in the "C" locale, which llama.cpp uses for lstrip / rstrip.
bool is_ascii_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

}  // namespace

SpecialSplitter::SpecialSplitter(const Vocab& vocab) : vocab_(vocab) {
  for (size_t i = 0; i < vocab.tokens.size(); ++i) {
    const auto id = static_cast<int32_t>(i);
    if (is_special_type(vocab.types[i]) && !vocab.tokens[i].empty()) {
      candidates_.push_back({id, listed(vocab.lstrip, id), listed(vocab.rstrip, id)});
    }
  }
  // llama.cpp sorts by length only (std::sort, so equal lengths come in no defined order); ties go to the lower id.
  std::stable_sort(candidates_.begin(), candidates_.end(), [&](const Candidate& a, const Candidate& b) {
    return vocab.tokens[static_cast<size_t>(a.id)].size() > vocab.tokens[static_cast<size_t>(b.id)].size();
  });

  trie_.emplace_back();
  for (size_t c = 0; c < candidates_.size(); ++c) {
    int32_t node = 0;
    for (char ch : vocab.tokens[static_cast<size_t>(candidates_[c].id)]) {
      const auto byte = static_cast<uint8_t>(ch);
      auto& children = trie_[static_cast<size_t>(node)].children;
      auto it = std::lower_bound(children.begin(), children.end(), std::pair<uint8_t, int32_t>(byte, -1));
      if (it != children.end() && it->first == byte) {
        node = it->second;
        continue;
      }
      const auto child = static_cast<int32_t>(trie_.size());
      children.insert(it, {byte, child});  // `children` may dangle after the emplace below, so insert first
      trie_.emplace_back();
      node = child;
    }
    // Two tokens with the same text: keep the first in priority order, the one llama.cpp would cut out first.
    TrieNode& end = trie_[static_cast<size_t>(node)];
    if (end.candidate < 0) end.candidate = static_cast<int32_t>(c);
  }
}

// Which candidates occur somewhere in `text`: one trie walk from each position. Only those need the llama.cpp
// procedure below (a pass over the text per token), which keeps vocabularies with thousands of added tokens fast.
std::vector<bool> SpecialSplitter::present(std::string_view text, bool parse_special) const {
  std::vector<bool> found(candidates_.size(), false);
  if (candidates_.empty()) return found;
  for (size_t start = 0; start < text.size(); ++start) {
    int32_t node = 0;
    for (size_t i = start; i < text.size(); ++i) {
      const auto& children = trie_[static_cast<size_t>(node)].children;
      const auto byte = static_cast<uint8_t>(text[i]);
      const auto it = std::lower_bound(children.begin(), children.end(), std::pair<uint8_t, int32_t>(byte, -1));
      if (it == children.end() || it->first != byte) break;
      node = it->second;
      const int32_t c = trie_[static_cast<size_t>(node)].candidate;
      if (c >= 0) found[static_cast<size_t>(c)] = true;
    }
  }
  if (!parse_special) {
    for (size_t c = 0; c < candidates_.size(); ++c) {
      if (needs_parse_special(vocab_.types[static_cast<size_t>(candidates_[c].id)])) found[c] = false;
    }
  }
  return found;
}

void SpecialSplitter::split(std::string_view text, bool parse_special, std::vector<Fragment>& out) const {
  out.clear();
  if (text.empty()) return;
  out.push_back({-1, 0, text.size()});
  const std::vector<bool> found = present(text, parse_special);
  std::vector<Fragment> next;
  for (size_t c = 0; c < candidates_.size(); ++c) {
    if (!found[c]) continue;
    const Candidate& candidate = candidates_[c];
    const std::string_view token = vocab_.tokens[static_cast<size_t>(candidate.id)];
    next.clear();
    for (const Fragment& fragment : out) {
      if (fragment.token >= 0) {
        next.push_back(fragment);
        continue;
      }
      // Every occurrence, left to right, without overlaps, inside this raw span only.
      const std::string_view raw = text.substr(fragment.offset, fragment.length);
      size_t pos = 0;
      for (size_t match = raw.find(token); match != std::string_view::npos; match = raw.find(token, pos)) {
        size_t left_end = match;
        if (candidate.lstrip) {
          while (left_end > pos && is_ascii_space(raw[left_end - 1])) --left_end;
        }
        if (left_end > pos) next.push_back({-1, fragment.offset + pos, left_end - pos});
        next.push_back({candidate.id, 0, 0});
        pos = match + token.size();
        if (candidate.rstrip) {
          while (pos < raw.size() && is_ascii_space(raw[pos])) ++pos;
        }
      }
      if (pos < raw.size()) next.push_back({-1, fragment.offset + pos, raw.size() - pos});
    }
    out.swap(next);
  }
}

}  // namespace ternion::detail
