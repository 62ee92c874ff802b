// A model's vocabulary as the tokenizer needs it: token texts, scores and types, BPE merges, special ids and flags.
//
// It is plain data so that it can come from a GGUF file (vocab_from_gguf) or from tokenizer.json (hf_tokenizer.h).
// Token texts are stored as the model's files store them: SentencePiece texts use U+2581 "▁" for a space and "<0xNN>"
// for byte pieces; GPT-2 byte-level BPE texts use the byte-to-unicode alphabet (a space is "Ġ", a newline "Ċ").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ternion {

class GgufFile;

// Token types as GGUF stores them in tokenizer.ggml.token_type (llama.cpp's llama_token_type).
enum class TokenType : int32_t {
  Undefined = 0,
  Normal = 1,
  Unknown = 2,
  Control = 3,
  UserDefined = 4,
  Unused = 5,
  Byte = 6,
};

enum class VocabKind {
  Spm,  // SentencePiece-style BPE over characters, merges chosen by piece score, byte fallback (GGUF model "llama")
  Bpe,  // GPT-2 byte-level BPE, merges chosen by rank after a regex pre-tokenizer (GGUF model "gpt2")
  WordPiece,  // BERT: lowercase, strip accents, split on punctuation, longest tokens first (GGUF model "bert")
};

struct Vocab {
  VocabKind kind = VocabKind::Spm;
  std::string pre = "default";      // tokenizer.ggml.pre ("default", "qwen2", "llama-bpe", ...); picks the BPE regexes
  std::vector<std::string> tokens;  // id -> text
  std::vector<float> scores;        // id -> score (SPM merge priority); same size as tokens
  std::vector<TokenType> types;     // id -> type; same size as tokens
  std::vector<std::string> merges;  // BPE: "a b" pairs in rank order (rank 0 first)
  int32_t bos = -1, eos = -1, unk = -1, pad = -1, eot = -1;  // -1 when absent
  bool add_bos = false, add_eos = false, add_space_prefix = true;
  // End-of-generation ids, sorted: eos, eot, eom and tokens such as <|im_end|>, <|endoftext|>, <|eot_id|>, collected
  // as llama.cpp does (by text, since GGUF files do not list them). The Tokenizer adds eos and eot if missing.
  std::vector<int32_t> eog;
  // Special tokens that swallow the ASCII whitespace before (lstrip) or after (rstrip) them when cut out of the text,
  // sorted. GGUF does not store these; llama.cpp sets them by model name (Phi-3: rstrip; Jina v2: <mask> lstrip).
  std::vector<int32_t> lstrip, rstrip;

  // Behaviours of HuggingFace tokenizer.json that llama.cpp has no key for (vocab_from_gguf leaves the defaults).
  // SPM dummy prefix as HF's Metaspace adds it: only where the text does not already start with a space, and with
  // space_prefix_first_only (prepend_scheme "first") only at the very start of the text, not after a special token.
  bool space_prefix_unless_space = false;
  bool space_prefix_first_only = false;
  bool split_at_space = false;  // SPM: every "▁" starts a word that merges never cross (Metaspace split: true)
  // BPE: when not empty, these regexes (PCRE2 syntax, applied in turn like a pre type's list) replace `pre`'s.
  std::vector<std::string> pre_regexes;
  bool ignore_merges = false;  // BPE: a word that is a whole token is that token (also implied by the llama3 pre)
};

// Reads the tokenizer.ggml.* keys of `file` with llama.cpp's defaults (SPM: <unk>=0, <s>=1, </s>=2, add BOS, space
// prefix; llama3-style BPE: add BOS). Throws Error naming the file and key for a missing key, a value of the wrong
// type or size, or an unsupported tokenizer model or pre-tokenizer (the message lists the supported ones). A special
// id outside the vocabulary is ignored (the default stays), as llama.cpp does.
Vocab vocab_from_gguf(const GgufFile& file);

// The tokenizer.ggml.pre names whose pre-tokenizer Ternion implements (for VocabKind::Bpe).
std::vector<std::string_view> supported_bpe_pre_types();

}  // namespace ternion
