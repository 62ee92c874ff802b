// The tokenizer of a HuggingFace folder -> GGUF tokenizer.* metadata, as llama.cpp's converter writes it.
//
// tokenizer.model (SentencePiece) is preferred, as the converter prefers it: its pieces, scores and types, then
// added_tokens.json and tokenizer_config.json's added_tokens_decoder. Otherwise tokenizer.json (hf_tokenizer.h).
// Special ids, add_bos/add_eos and the chat template follow the converter's rules: token texts of
// tokenizer_config.json looked up in tokenizer.json's added_tokens, then config.json's *_token_id.
#pragma once

#include <optional>
#include <string>

#include "convert/hf_config.h"
#include "ternion/model/model_source.h"
#include "ternion/tokenizer/vocab.h"

namespace ternion {

// Appends the tokenizer.* keys for `dir` to `metadata`. Returns the Vocab to run with when the metadata cannot say
// everything it does (tokenizer.json), nullopt when the metadata is the tokenizer (tokenizer.model). When GGUF cannot
// describe a tokenizer.json at all, no keys are written and `unconvertible` says why (running still works).
// Throws Error naming the file for a missing tokenizer, a malformed file, or a vocabulary larger than vocab_size.
std::optional<Vocab> add_hf_tokenizer_metadata(const std::string& dir, const HfConfig& config, GgufMetadata& metadata,
                                               std::string& unconvertible);

}  // namespace ternion
