// GPT-2 byte-level BPE as llama.cpp runs it (llm_tokenizer_bpe_session in src/llama-vocab.cpp), on integer symbol
// ids instead of strings.
#include <queue>

#include "tokenizer/tokenizer_state.h"
#include "tokenizer/unicode.h"

namespace ternion::detail {

namespace {

constexpr int32_t kNoSymbol = -1;    // a byte whose alphabet character is neither a token nor part of a merge
constexpr int32_t kMergedAway = -2;  // a symbol absorbed by its left neighbour

}  // namespace

int32_t BpeModel::symbol_id(std::string_view text, bool create) {
  const int32_t token = find_token(index_, text);
  if (token >= 0) return token;
  const auto it = extra_symbols_.find(text);
  if (it != extra_symbols_.end()) return it->second;
  if (!create) return kNoSymbol;
  const auto id = static_cast<int32_t>(n_vocab_ + static_cast<int32_t>(extra_texts_.size()));
  extra_texts_.emplace_back(text);
  extra_symbols_.emplace(std::string(text), id);
  return id;
}

BpeModel::BpeModel(const Vocab& vocab, const TokenIndex& index, bool ignore_merges)
    : index_(index), n_vocab_(static_cast<int32_t>(vocab.tokens.size())), ignore_merges_(ignore_merges) {
  merges_.reserve(vocab.merges.size());
  for (size_t rank = 0; rank < vocab.merges.size(); ++rank) {
    const std::string& merge = vocab.merges[rank];
    // llama.cpp splits at the first space after the first byte; a line without one can never match a pair.
    const size_t space = merge.find(' ', 1);
    if (space == std::string::npos) continue;
    const std::string_view first = std::string_view(merge).substr(0, space);
    const std::string_view second = std::string_view(merge).substr(space + 1);
    const int32_t left = symbol_id(first, true);
    const int32_t right = symbol_id(second, true);
    const int32_t result = symbol_id(std::string(first) + std::string(second), true);
    merges_.emplace(pair_key(left, right), Merge{static_cast<int32_t>(rank), result});  // the first rank wins
  }
  for (int b = 0; b < 256; ++b) {
    byte_symbols_[b] = symbol_id(gpt2_byte_to_utf8(static_cast<uint8_t>(b)), false);
    single_byte_tokens_[b] = find_token(index, std::string(1, static_cast<char>(b)));
  }
}

void BpeModel::encode_word(std::string_view word, WordCache& cache, std::vector<int32_t>& out) const {
  if (cache.lookup(word, out)) return;
  const size_t start = out.size();
  encode_uncached(word, out);
  cache.store(word, out, start);
}

namespace {

struct Symbol {
  int32_t id;  // token or merge-part id, kNoSymbol or kMergedAway
  int32_t prev;
  int32_t next;
  uint32_t offset;  // bytes of the word this symbol covers
  uint32_t length;
};

struct Bigram {
  int32_t left;
  int32_t right;
  int32_t rank;
  int32_t left_id;  // the symbols' ids when queued; a change means the pair is stale
  int32_t right_id;
  int32_t result;
};

// Lowest rank first; among equal ranks the leftmost pair (llama.cpp's llm_bigram_bpe::comparator).
struct BigramOrder {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};

}  // namespace

void BpeModel::encode_uncached(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (ignore_merges_) {  // llama3: a word that is a whole token is taken as it is, even where merges would differ
    std::string mapped;
    for (char c : word) mapped += gpt2_byte_to_utf8(static_cast<uint8_t>(c));
    const int32_t id = find_token(index_, mapped);
    if (id >= 0) {
      out.push_back(id);
      return;
    }
  }

  std::vector<Symbol> symbols(word.size());
  for (size_t i = 0; i < word.size(); ++i) {
    const auto index = static_cast<int32_t>(i);
    symbols[i] = {byte_symbols_[static_cast<uint8_t>(word[i])], index - 1, i + 1 == word.size() ? -1 : index + 1,
                  static_cast<uint32_t>(i), 1};
  }

  std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
  auto try_add = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const int32_t left_id = symbols[static_cast<size_t>(left)].id;
    const int32_t right_id = symbols[static_cast<size_t>(right)].id;
    if (left_id < 0 || right_id < 0) return;
    const auto merge = merges_.find(pair_key(left_id, right_id));
    if (merge == merges_.end()) return;
    queue.push({left, right, merge->second.rank, left_id, right_id, merge->second.result});
  };
  for (size_t i = 1; i < symbols.size(); ++i) try_add(static_cast<int32_t>(i - 1), static_cast<int32_t>(i));

  while (!queue.empty()) {
    const Bigram bigram = queue.top();
    queue.pop();
    Symbol& left = symbols[static_cast<size_t>(bigram.left)];
    Symbol& right = symbols[static_cast<size_t>(bigram.right)];
    if (left.id != bigram.left_id || right.id != bigram.right_id) continue;
    left.id = bigram.result;
    left.length += right.length;
    right.id = kMergedAway;
    right.length = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[static_cast<size_t>(right.next)].prev = bigram.left;
    try_add(left.prev, bigram.left);
    try_add(bigram.left, left.next);
  }

  for (int32_t i = 0; i != -1; i = symbols[static_cast<size_t>(i)].next) {
    const Symbol& s = symbols[static_cast<size_t>(i)];
    if (s.id >= 0 && s.id < n_vocab_) {
      out.push_back(s.id);
      continue;
    }
    // Not a token: llama.cpp falls back to the tokens of the single bytes of the symbol's (alphabet) text.
    for (char raw : word.substr(s.offset, s.length)) {
      for (char c : gpt2_byte_to_utf8(static_cast<uint8_t>(raw))) {
        const int32_t id = single_byte_tokens_[static_cast<uint8_t>(c)];
        if (id >= 0) out.push_back(id);
      }
    }
  }
}

}  // namespace ternion::detail
