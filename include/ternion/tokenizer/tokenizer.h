// Text <-> token ids, bit-compatible with llama.cpp's llama_tokenize / llama_token_to_piece for the same GGUF vocab.
//
// A Tokenizer is immutable after construction: encode, decode and token_to_piece may be called from many threads at
// once, and copies share the same tables.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ternion/tokenizer/vocab.h"

namespace ternion {

namespace detail {
struct TokenizerState;
}

class Tokenizer {
 public:
  // Validates `vocab` (sizes, special ids, pre-tokenizer) and builds the look-up tables; throws Error when invalid.
  explicit Tokenizer(Vocab vocab);

  // add_special: prepend BOS / append EOS as the vocab's add_bos / add_eos say.
  // parse_special: text of control and user-defined tokens (e.g. "<|im_start|>", "<s>") becomes that single token;
  // when false only user-defined tokens are matched (as llama.cpp does) and control-token text is ordinary text.
  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const;

  // The bytes of one token as llama_token_to_piece gives them: SPM "▁" -> space and "<0xNN>" -> that byte; BPE
  // byte-level alphabet -> bytes; control and unknown tokens are empty unless `special`. May be partial UTF-8.
  // Throws Error for an id outside [0, n_vocab).
  std::string token_to_piece(int32_t id, bool special) const;

  // The pieces joined. skip_special leaves out control and unknown tokens (else their text is written). With an SPM
  // vocab that adds a space prefix, the leading space of the first non-empty piece is dropped, so that
  // decode(encode(t)) == t for text without special tokens. Bytes are returned as they are (may be invalid UTF-8).
  std::string decode(std::span<const int32_t> ids, bool skip_special) const;

  const Vocab& vocab() const;
  int32_t n_vocab() const;
  bool is_eog(int32_t id) const;

 private:
  std::shared_ptr<const detail::TokenizerState> state_;
};

// Streaming detokenizer for generation: feed ids one at a time and get back only complete UTF-8 characters, holding
// back a character split across tokens until its last byte arrives. Bytes that can never form a valid character are
// replaced by U+FFFD, so every returned string is valid UTF-8. Control tokens produce nothing unless `special`.
class StreamDecoder {
 public:
  // strip_leading_space: drop the SPM dummy-prefix space from the first non-empty piece (use when the prompt is not
  // echoed, i.e. the first decoded token starts the text). `tokenizer` must outlive the decoder.
  StreamDecoder(const Tokenizer& tokenizer, bool strip_leading_space, bool special = false);

  std::string push(int32_t id);
  // Whatever is held back (an incomplete character at the end of the stream) as U+FFFD, and empties the buffer.
  std::string flush();

 private:
  const Tokenizer* tokenizer_;
  bool strip_leading_space_;
  bool special_;         // control tokens as their text (e.g. <|im_end|>)
  std::string pending_;  // bytes of an incomplete UTF-8 character, at most 3
};

}  // namespace ternion
