// SentencePiece-style BPE as llama.cpp runs it (llm_tokenizer_spm_session in src/llama-vocab.cpp).
#include <algorithm>
#include <cstdio>
#include <queue>

#include "tokenizer/tokenizer_state.h"
#include "tokenizer/unicode.h"

namespace ternion::detail {

namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's visible space

}  // namespace

SpmModel::SpmModel(const Vocab& vocab, const TokenIndex& index) : vocab_(vocab), index_(index) {
  for (int b = 0; b < 256; ++b) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "<0x%02X>", b);
    int32_t id = find_token(index, hex);
    if (id < 0) id = find_token(index, std::string(1, static_cast<char>(b)));
    if (id < 0) id = vocab.unk;  // llama.cpp would throw here; <unk> keeps the text's length visible
    byte_tokens_[b] = id;
  }
  split_words_ = true;
  for (const std::string& token : vocab.tokens) {
    for (size_t at = token.find(kSpace, 1); at != std::string::npos; at = token.find(kSpace, at + 1)) {
      if (at < kSpace.size() || token.compare(at - kSpace.size(), kSpace.size(), kSpace) != 0) split_words_ = false;
    }
  }
}

void SpmModel::encode(std::string_view text, WordCache& cache, std::vector<int32_t>& out) const {
  // Invalid UTF-8 could hide a "▁" inside a longer symbol, so only well-formed text is cut into words.
  if (!split_words_ || !is_valid_utf8(text)) {
    encode_segment(text, out);
    return;
  }
  // Words start at a "▁" that does not follow another "▁" (a run of spaces stays together with the word after it).
  size_t start = 0;
  auto emit = [&](size_t end) {
    const std::string_view word = text.substr(start, end - start);
    if (word.empty() || cache.lookup(word, out)) return;
    const size_t first = out.size();
    encode_segment(word, out);
    cache.store(word, out, first);
  };
  for (size_t at = text.find(kSpace, 1); at != std::string_view::npos; at = text.find(kSpace, at + 1)) {
    if (at >= kSpace.size() && text.substr(at - kSpace.size(), kSpace.size()) == kSpace) continue;
    emit(at);
    start = at;
  }
  emit(text.size());
}

namespace {

struct Symbol {
  int32_t prev;
  int32_t next;
  uint32_t offset;  // bytes of the text this symbol covers
  uint32_t length;  // 0 once merged into its left neighbour
};

struct Bigram {
  int32_t left;
  int32_t right;
  float score;
  uint32_t length;
};

// Highest score first; among equal scores the leftmost pair, as llama.cpp's llm_bigram_spm::comparator orders them.
struct BigramOrder {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

}  // namespace

void SpmModel::encode_segment(std::string_view text, std::vector<int32_t>& out) const {
  if (text.empty()) return;
  std::vector<Symbol> symbols;
  symbols.reserve(text.size());
  for (size_t offset = 0; offset < text.size();) {
    const size_t n = std::min(utf8_lead_length(static_cast<uint8_t>(text[offset])), text.size() - offset);
    const auto index = static_cast<int32_t>(symbols.size());
    symbols.push_back({index - 1, offset + n == text.size() ? -1 : index + 1, static_cast<uint32_t>(offset),
                       static_cast<uint32_t>(n)});
    offset += n;
  }

  std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
  auto try_add = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const Symbol& l = symbols[static_cast<size_t>(left)];
    const Symbol& r = symbols[static_cast<size_t>(right)];
    const int32_t id = find_token(index_, text.substr(l.offset, l.length + r.length));
    if (id < 0) return;
    queue.push({left, right, vocab_.scores[static_cast<size_t>(id)], l.length + r.length});
  };
  for (size_t i = 1; i < symbols.size(); ++i) try_add(static_cast<int32_t>(i - 1), static_cast<int32_t>(i));

  while (!queue.empty()) {
    const Bigram bigram = queue.top();
    queue.pop();
    Symbol& left = symbols[static_cast<size_t>(bigram.left)];
    Symbol& right = symbols[static_cast<size_t>(bigram.right)];
    // Stale: one side was merged since this pair was queued.
    if (left.length == 0 || right.length == 0 || left.length + right.length != bigram.length) continue;
    left.length += right.length;
    right.length = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[static_cast<size_t>(right.next)].prev = bigram.left;
    try_add(left.prev, bigram.left);
    try_add(bigram.left, left.next);
  }

  // A merged symbol is a token by construction, so only single characters can fall back to bytes. (llama.cpp also
  // looks in its rev_merge map here, but that map only holds texts that are tokens, so it never changes the result.)
  for (int32_t i = 0; i != -1; i = symbols[static_cast<size_t>(i)].next) {
    const Symbol& s = symbols[static_cast<size_t>(i)];
    const std::string_view piece = text.substr(s.offset, s.length);
    const int32_t id = find_token(index_, piece);
    if (id >= 0) {
      out.push_back(id);
      continue;
    }
    for (char c : piece) {
      const int32_t byte_id = byte_tokens_[static_cast<uint8_t>(c)];
      if (byte_id >= 0) out.push_back(byte_id);
    }
  }
}

}  // namespace ternion::detail
