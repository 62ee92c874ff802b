// WordPiece (BERT) tokenization as llama.cpp runs it (llm_tokenizer_wpm_session in src/llama-vocab.cpp): lowercase and
// strip accents, split on whitespace, punctuation, ASCII symbols and CJK characters, then cut every word greedily
// into the longest tokens from its start, with the "▁" that marks a word start in GGUF BERT vocabularies.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ternion/tokenizer/vocab.h"
#include "tokenizer/tokenizer_state.h"

namespace ternion::detail {

// Category flags of wpm_flags (generated tables, wordpiece_unicode.cpp).
inline constexpr uint8_t kWpmPunctuation = 1;  // general category P*
inline constexpr uint8_t kWpmSymbol = 2;       // S*
inline constexpr uint8_t kWpmControl = 4;      // Cc, Cf, Co, Cs

uint32_t wpm_lowercase(uint32_t cpt);  // first code point of the lowercase form
uint32_t wpm_nfd_first(uint32_t cpt);  // first code point of the NFD decomposition (é -> e)
uint8_t wpm_flags(uint32_t cpt);

// llama.cpp's WordPiece pre-processing: the words of `text`, normalised, without the "▁" prefix. Exposed for tests.
std::vector<std::string> wpm_words(std::string_view text);

class WordPieceModel {
 public:
  WordPieceModel(const Vocab& vocab, const TokenIndex& index);
  void encode(std::string_view text, std::vector<int32_t>& out) const;

 private:
  const TokenIndex& index_;
  int32_t unk_;
  size_t max_token_length_ = 0;  // bytes of the longest token text
};

}  // namespace ternion::detail
