// HuggingFace tokenizer files -> Vocab, so that a model folder without a GGUF file tokenizes with the same Tokenizer.
//
// Supported: tokenizer.json with a "BPE" model, either byte-level (ByteLevel pre-tokenizer, with Split regexes and
// Digits in a Sequence: GPT-2, Llama-3, Qwen2, SmolLM) or SentencePiece-style (Metaspace pre-tokenizer or Llama-2's
// Prepend/Replace normalizers, byte fallback: Llama-2, TinyLlama, Mistral), and its added_tokens (special ones become
// Control tokens, the others UserDefined). tokenizer_config.json, when given, supplies add_bos_token / add_eos_token,
// the bos/eos/unk/pad token texts and the chat template. Anything else (WordPiece or Unigram models, normalizers that
// change text such as Lowercase or NFKC) is refused with an Error naming the file and field.
//
// The files are untrusted: sizes are bounded, every field is type-checked, and every mistake is one Error line.
// Note that HF tokenizers parse special-token text by default: encode(text, add_special, parse_special = true)
// reproduces transformers' ids.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "ternion/tokenizer/vocab.h"

namespace ternion {

struct HfTokenizer {
  Vocab vocab;
  std::string chat_template;  // tokenizer_config.json's (the "default" one of a list); empty when none
};

// Largest tokenizer.json / tokenizer_config.json accepted (the largest real ones are a few tens of MB).
inline constexpr size_t kMaxHfTokenizerFileBytes = size_t{256} << 20;

// From the texts of tokenizer.json and tokenizer_config.json (empty when there is none). `name` (a path) prefixes
// error messages.
HfTokenizer hf_tokenizer_from_json(std::string_view tokenizer_json, std::string_view config_json = {},
                                   std::string_view name = "tokenizer.json");

// `path` is a model folder holding tokenizer.json, or a tokenizer.json file; tokenizer_config.json next to it is read
// when present.
HfTokenizer load_hf_tokenizer(const std::string& path);

// load_hf_tokenizer(path).vocab.
Vocab vocab_from_tokenizer_json(const std::string& path);

// True when `path` names a folder with a tokenizer.json, or a file whose name ends in ".json".
bool is_hf_tokenizer_path(const std::string& path);

}  // namespace ternion
