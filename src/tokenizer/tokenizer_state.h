// The tables behind a Tokenizer, and the three algorithms that use them (SPM merges, byte-level BPE merges, the
// special-token split). Built once in the Tokenizer constructor and read-only afterwards, so every method is const
// and per-call scratch lives on the caller's stack.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ternion/tokenizer/vocab.h"
#include "tokenizer/pretokenize.h"

namespace ternion::detail {

struct StringHash {
  using is_transparent = void;  // look up std::string keys with a string_view, without a copy
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

// Token text -> id. Where two ids share a text the higher id wins, as in llama.cpp's token_to_id.
using TokenIndex = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

inline int32_t find_token(const TokenIndex& index, std::string_view text) {
  const auto it = index.find(text);
  return it == index.end() ? -1 : it->second;
}

// Per-call memory of the encoders: the ids of words (SPM segments, BPE words) already encoded during this call, so
// that repeated words cost one hash look-up. Per call rather than shared, so encode needs no lock.
struct WordCache {
  std::unordered_map<std::string, std::pair<uint32_t, uint32_t>, StringHash, std::equal_to<>> words;  // -> ids span
  std::vector<int32_t> ids;

  // Appends the cached ids of `word` to `out`; false when it is not cached.
  bool lookup(std::string_view word, std::vector<int32_t>& out) const;
  // Remembers out[start..] as the ids of `word` (up to a bounded number of words).
  void store(std::string_view word, const std::vector<int32_t>& out, size_t start);
};

// llama.cpp's llm_tokenizer_spm: split into UTF-8 characters, repeatedly merge the adjacent pair whose concatenation
// is the highest-scoring token, then emit each final symbol as its token or, failing that, as byte tokens.
class SpmModel {
 public:
  SpmModel(const Vocab& vocab, const TokenIndex& index);
  // `text` has spaces already written as "▁" (and the dummy prefix added).
  void encode(std::string_view text, WordCache& cache, std::vector<int32_t>& out) const;

 private:
  void encode_segment(std::string_view text, std::vector<int32_t>& out) const;

  const Vocab& vocab_;
  const TokenIndex& index_;
  int32_t byte_tokens_[256];  // "<0xNN>", else the one-byte text, else <unk>, else -1 (dropped)
  // True when no token has a "▁" right after another character than "▁": then no merge can cross the start of a
  // word, words can be encoded one at a time (and cached), and the result is the same as for the whole text.
  bool split_words_ = false;
};

// GPT-2 byte-level BPE (llama.cpp's llm_tokenizer_bpe_session): inside one pre-tokenized word, repeatedly merge the
// adjacent pair of lowest merge rank. Symbols are identified by integer ids so that merging needs no string work:
// ids below n_vocab are tokens, ids above stand for merge parts that are not tokens themselves.
class BpeModel {
 public:
  BpeModel(const Vocab& vocab, const TokenIndex& index, bool ignore_merges);
  // `word` is raw bytes (each byte is one symbol of the byte-level alphabet); appends its token ids to `out`.
  void encode_word(std::string_view word, WordCache& cache, std::vector<int32_t>& out) const;

 private:
  struct Merge {
    int32_t rank;
    int32_t result;
  };
  static uint64_t pair_key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }
  int32_t symbol_id(std::string_view text, bool create);
  void encode_uncached(std::string_view word, std::vector<int32_t>& out) const;

  const TokenIndex& index_;
  int32_t n_vocab_;
  bool ignore_merges_;
  std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> extra_symbols_;  // non-token texts -> id
  std::vector<std::string> extra_texts_;                                                 // id - n_vocab -> text
  std::unordered_map<uint64_t, Merge> merges_;                                           // (left, right) -> merge
  int32_t byte_symbols_[256];        // symbol of each byte's alphabet character, -1 when it has none
  int32_t single_byte_tokens_[256];  // token whose text is that single byte, or -1 (llama.cpp's last resort)
};

// One piece of the input after special tokens are cut out: a token, or a span of raw text.
struct Fragment {
  int32_t token = -1;  // >= 0: this special token
  size_t offset = 0;   // raw text span, when token < 0
  size_t length = 0;
};

// llama.cpp's tokenizer_st_partition: special tokens are cut out of the text one token at a time, longest text
// first, each at every occurrence in what is still raw text. User-defined tokens always take part; control and
// unknown tokens only when parsing special tokens.
class SpecialSplitter {
 public:
  explicit SpecialSplitter(const Vocab& vocab);
  void split(std::string_view text, bool parse_special, std::vector<Fragment>& out) const;

 private:
  struct Candidate {
    int32_t id;
    bool lstrip;  // drop ASCII whitespace before / after each occurrence
    bool rstrip;
  };
  struct TrieNode {
    std::vector<std::pair<uint8_t, int32_t>> children;  // byte -> node, sorted by byte
    int32_t candidate = -1;                             // index into candidates_ of the token ending here
  };
  std::vector<bool> present(std::string_view text, bool parse_special) const;

  const Vocab& vocab_;
  std::vector<Candidate> candidates_;  // special tokens, longest text first, then lowest id
  std::vector<TrieNode> trie_;         // of the candidates' texts, to find the few present in a text in one pass
};

class WordPieceModel;  // wordpiece.h

struct TokenizerState {
  Vocab vocab;
  TokenIndex index;
  std::vector<std::string> pieces;  // token_to_piece(id, special = true)
  std::vector<uint8_t> eog;         // id -> ends generation
  std::unique_ptr<SpecialSplitter> special;
  std::unique_ptr<SpmModel> spm;
  std::unique_ptr<PreTokenizer> pre;
  std::unique_ptr<BpeModel> bpe;
  std::unique_ptr<WordPieceModel> wpm;
  ~TokenizerState();  // in tokenizer.cpp, where WordPieceModel is complete
};

// The pieces of every token for token_to_piece (decode.cpp).
std::vector<std::string> build_pieces(const Vocab& vocab);

}  // namespace ternion::detail
