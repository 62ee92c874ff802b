// vocab_from_gguf: the tokenizer.ggml.* keys of a GGUF file -> Vocab, with llama.cpp's defaults and fix-ups
// (llama_vocab::impl::load), so that a file tokenizes here exactly as llama.cpp tokenizes it.
#include <algorithm>
#include <array>
#include <cctype>
#include <optional>
#include <string>
#include <unordered_map>

#include "ternion/core/error.h"
#include "ternion/io/gguf.h"
#include "ternion/tokenizer/vocab.h"
#include "tokenizer/pretokenize.h"

namespace ternion {

namespace {

constexpr std::string_view kSupportedModels = "llama (SentencePiece BPE), gpt2 (byte-level BPE), bert (WordPiece)";

[[noreturn]] void fail(const GgufFile& file, std::string_view key, const std::string& problem) {
  throw Error(file.path() + ": " + std::string(key) + ": " + problem);
}

const GgufArray& require_array(const GgufFile& file, std::string_view key, GgufValueType elem) {
  const GgufArray* array = file.get_array(key);
  if (array == nullptr) fail(file, key, "missing (needed by the tokenizer)");
  if (array->elem_type != elem) {
    fail(file, key,
         "expected an array of " + std::string(gguf_type_name(elem)) + ", got " +
             std::string(gguf_type_name(array->elem_type)));
  }
  return *array;
}

// A token id key. Absent, or outside the vocabulary, keeps `fallback`: llama.cpp does the same (with a warning), and
// real files carry such ids (a pad id equal to the vocabulary size is common), so refusing them would refuse models
// llama.cpp runs.
int32_t read_token_id(const GgufFile& file, std::string_view key, size_t n_tokens, int32_t fallback) {
  const std::optional<int64_t> id = file.get_int(key);
  if (!id || *id < 0 || static_cast<uint64_t>(*id) >= n_tokens) return fallback;
  return static_cast<int32_t>(*id);
}

TokenType to_token_type(int64_t value) {
  return value >= 0 && value <= static_cast<int64_t>(TokenType::Byte) ? static_cast<TokenType>(value)
                                                                      : TokenType::Undefined;
}

// The special tokens llama.cpp recognises by text because converters do not store them as keys. A token found this
// way is forced to Control, as llama.cpp does, so that it prints as nothing and is only parsed as special.
class TextIndex {
 public:
  explicit TextIndex(const Vocab& vocab) {
    for (size_t i = 0; i < vocab.tokens.size(); ++i) ids_.emplace(vocab.tokens[i], static_cast<int32_t>(i));
  }
  // The lowest id whose text is one of `texts`, or -1.
  template <size_t N>
  int32_t first_of(const std::array<std::string_view, N>& texts) const {
    int32_t best = -1;
    for (std::string_view text : texts) {
      const auto it = ids_.find(std::string(text));
      if (it != ids_.end() && (best < 0 || it->second < best)) best = it->second;
    }
    return best;
  }
  template <size_t N>
  std::vector<int32_t> all_of(const std::array<std::string_view, N>& texts) const {
    std::vector<int32_t> out;
    for (std::string_view text : texts) {
      const auto it = ids_.find(std::string(text));
      if (it != ids_.end()) out.push_back(it->second);
    }
    return out;
  }

 private:
  std::unordered_multimap<std::string, int32_t> ids_;
};

// Reads an id key, or detects the token by text; a detected token becomes Control.
int32_t special_id(const GgufFile& file, Vocab& vocab, std::string_view key, std::optional<int32_t> detected) {
  const int32_t id = read_token_id(file, key, vocab.tokens.size(), -1);
  if (id >= 0 || !detected || *detected < 0) return id;
  vocab.types[static_cast<size_t>(*detected)] = TokenType::Control;
  return *detected;
}

void collect_end_of_generation(const GgufFile& file, Vocab& vocab) {
  const TextIndex index(vocab);
  constexpr std::array<std::string_view, 7> kEotTexts = {
      "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>", "<｜end▁of▁sentence｜>"};
  constexpr std::array<std::string_view, 1> kEomTexts = {"<|eom_id|>"};
  constexpr std::array<std::string_view, 4> kFimPreTexts = {"<|fim_prefix|>", "<fim-prefix>", "<｜fim▁begin｜>",
                                                            "<PRE>"};
  constexpr std::array<std::string_view, 4> kFimSufTexts = {"<|fim_suffix|>", "<fim-suffix>", "<｜fim▁hole｜>",
                                                            "<SUF>"};
  constexpr std::array<std::string_view, 4> kFimMidTexts = {"<|fim_middle|>", "<fim-middle>", "<｜fim▁end｜>", "<MID>"};
  constexpr std::array<std::string_view, 3> kFimPadTexts = {"<|fim_pad|>", "<fim-pad>", "<PAD>"};
  constexpr std::array<std::string_view, 4> kFimRepTexts = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>"};
  constexpr std::array<std::string_view, 1> kFimSepTexts = {"<|file_sep|>"};
  constexpr std::array<std::string_view, 7> kEogTexts = {"<|eot_id|>",    "<|im_end|>", "<|end|>", "<end_of_turn>",
                                                         "<|endoftext|>", "<|eom_id|>", "<EOT>"};

  vocab.eot = special_id(file, vocab, "tokenizer.ggml.eot_token_id", index.first_of(kEotTexts));
  const int32_t eom = special_id(file, vocab, "tokenizer.ggml.eom_token_id", index.first_of(kEomTexts));
  // The FIM tokens matter here only through their type (and pad/rep/sep ending generation).
  const size_t n = vocab.tokens.size();
  const int32_t fim_pre = read_token_id(file, "tokenizer.ggml.prefix_token_id", n, -1);
  const int32_t fim_suf = read_token_id(file, "tokenizer.ggml.suffix_token_id", n, -1);
  const int32_t fim_mid = read_token_id(file, "tokenizer.ggml.middle_token_id", n, -1);
  special_id(file, vocab, "tokenizer.ggml.fim_pre_token_id",
             fim_pre >= 0 ? std::nullopt : std::optional(index.first_of(kFimPreTexts)));
  special_id(file, vocab, "tokenizer.ggml.fim_suf_token_id",
             fim_suf >= 0 ? std::nullopt : std::optional(index.first_of(kFimSufTexts)));
  special_id(file, vocab, "tokenizer.ggml.fim_mid_token_id",
             fim_mid >= 0 ? std::nullopt : std::optional(index.first_of(kFimMidTexts)));
  const int32_t fim_pad = special_id(file, vocab, "tokenizer.ggml.fim_pad_token_id", index.first_of(kFimPadTexts));
  const int32_t fim_rep = special_id(file, vocab, "tokenizer.ggml.fim_rep_token_id", index.first_of(kFimRepTexts));
  const int32_t fim_sep = special_id(file, vocab, "tokenizer.ggml.fim_sep_token_id", index.first_of(kFimSepTexts));

  std::vector<int32_t> eog = index.all_of(kEogTexts);
  for (int32_t id : eog) vocab.types[static_cast<size_t>(id)] = TokenType::Control;
  for (int32_t id : {fim_pad, fim_rep, fim_sep, vocab.eos, vocab.eot, eom}) {
    if (id >= 0) eog.push_back(id);
  }
  std::sort(eog.begin(), eog.end());
  eog.erase(std::unique(eog.begin(), eog.end()), eog.end());
  vocab.eog = std::move(eog);
}

// Per-model token attributes llama.cpp hard-codes (end of llama_vocab::impl::load).
void set_strip_attributes(const GgufFile& file, Vocab& vocab) {
  std::string name = file.get_string("general.name").value_or("");
  std::transform(name.begin(), name.end(), name.begin(), [](char c) { return static_cast<char>(std::tolower(c)); });
  auto id_of = [&](std::string_view text) {
    const auto it = std::find(vocab.tokens.begin(), vocab.tokens.end(), text);
    return it == vocab.tokens.end() ? -1 : static_cast<int32_t>(it - vocab.tokens.begin());
  };
  if (vocab.pre.find("jina-v2-de") != std::string::npos || vocab.pre.find("jina-v2-es") != std::string::npos ||
      vocab.pre.find("jina-v2-code") != std::string::npos) {
    if (const int32_t mask = id_of("<mask>"); mask >= 0) vocab.lstrip.push_back(mask);
  } else if (name.find("phi-3") != std::string::npos || name.find("phi3") != std::string::npos) {
    for (size_t id = 0; id < vocab.tokens.size(); ++id) {
      const TokenType t = vocab.types[id];
      if (t == TokenType::Control || t == TokenType::UserDefined || t == TokenType::Unknown) {
        vocab.rstrip.push_back(static_cast<int32_t>(id));
      }
    }
    if (const int32_t eos_text = id_of("</s>"); eos_text >= 0) vocab.rstrip.push_back(eos_text);
    for (std::string_view keep : {"<unk>", "<s>", "<|endoftext|>"}) {
      const int32_t id = id_of(keep);
      vocab.rstrip.erase(std::remove(vocab.rstrip.begin(), vocab.rstrip.end(), id), vocab.rstrip.end());
    }
    std::sort(vocab.rstrip.begin(), vocab.rstrip.end());
    vocab.rstrip.erase(std::unique(vocab.rstrip.begin(), vocab.rstrip.end()), vocab.rstrip.end());
  }
}

}  // namespace

std::vector<std::string_view> supported_bpe_pre_types() { return detail::pre_type_names(); }

Vocab vocab_from_gguf(const GgufFile& file) {
  Vocab vocab;
  const std::optional<std::string> model = file.get_string("tokenizer.ggml.model");
  if (!model) fail(file, "tokenizer.ggml.model", "missing: the file has no tokenizer");
  const std::optional<std::string> pre = file.get_string("tokenizer.ggml.pre");

  // Defaults by model type, as llama.cpp sets them before reading the keys that override them.
  if (*model == "llama") {
    vocab.kind = VocabKind::Spm;
    vocab.pre = pre.value_or("default");
    vocab.add_bos = true;
    vocab.add_space_prefix = true;
  } else if (*model == "gpt2") {
    vocab.kind = VocabKind::Bpe;
    vocab.pre = pre.value_or("default");  // llama.cpp falls back to "default" (with a warning) as well
    const detail::PreTypeInfo* info = detail::find_pre_type(vocab.pre);
    if (info == nullptr) {
      fail(file, "tokenizer.ggml.pre",
           "unsupported pre-tokenizer '" + gguf_escape(vocab.pre) + "' (supported: " + detail::pre_type_list() + ")");
    }
    vocab.add_bos = info->add_bos;
    vocab.add_space_prefix = false;
  } else if (*model == "bert") {
    vocab.kind = VocabKind::WordPiece;
    vocab.pre = pre.value_or("default");
    vocab.add_bos = vocab.add_eos = true;  // [CLS] text [SEP]
    // llama.cpp says false, but here the flag also means "decode drops the space of the first word's ▁".
    vocab.add_space_prefix = true;
  } else {
    fail(
        file, "tokenizer.ggml.model",
        "unsupported tokenizer model '" + gguf_escape(*model) + "' (supported: " + std::string(kSupportedModels) + ")");
  }

  const GgufArray& tokens = require_array(file, "tokenizer.ggml.tokens", GgufValueType::STRING);
  const size_t n = tokens.strings.size();
  if (n == 0) fail(file, "tokenizer.ggml.tokens", "the vocabulary is empty");
  vocab.tokens = tokens.strings;
  for (size_t i = 0; i < n; ++i) {
    if (vocab.tokens[i].empty()) vocab.tokens[i] = "[EMPTY_" + std::to_string(i) + "]";  // as llama.cpp names them
  }

  vocab.scores.assign(n, 0.0f);
  if (file.find("tokenizer.ggml.scores") != nullptr) {
    const GgufArray& scores = require_array(file, "tokenizer.ggml.scores", GgufValueType::FLOAT32);
    if (scores.count != n) {
      fail(file, "tokenizer.ggml.scores",
           std::to_string(scores.count) + " scores for " + std::to_string(n) + " tokens");
    }
    for (size_t i = 0; i < n; ++i) vocab.scores[i] = static_cast<float>(scores.number_at(i));
  }

  vocab.types.assign(n, TokenType::Normal);
  if (file.find("tokenizer.ggml.token_type") != nullptr) {
    const GgufArray& types = require_array(file, "tokenizer.ggml.token_type", GgufValueType::INT32);
    if (types.count != n) {
      fail(file, "tokenizer.ggml.token_type",
           std::to_string(types.count) + " token types for " + std::to_string(n) + " tokens");
    }
    for (size_t i = 0; i < n; ++i) vocab.types[i] = to_token_type(types.int_at(i));
  }

  if (vocab.kind == VocabKind::Bpe) {
    vocab.merges = require_array(file, "tokenizer.ggml.merges", GgufValueType::STRING).strings;
  }

  // llama.cpp's SPM defaults are <unk>=0, <s>=1, </s>=2 when the keys are absent.
  // BERT's are [UNK]=100, [CLS]=101 (BOS), [SEP]=102 (EOS), [PAD]=0.
  const bool spm = vocab.kind == VocabKind::Spm;
  const bool wpm = vocab.kind == VocabKind::WordPiece;
  auto fallback = [n](bool use, int32_t id) { return use && static_cast<size_t>(id) < n ? id : -1; };
  vocab.bos = read_token_id(file, "tokenizer.ggml.bos_token_id", n, fallback(spm, 1) >= 0 ? 1 : fallback(wpm, 101));
  vocab.eos = read_token_id(file, "tokenizer.ggml.eos_token_id", n, fallback(spm, 2) >= 0 ? 2 : fallback(wpm, 102));
  vocab.unk = read_token_id(file, "tokenizer.ggml.unknown_token_id", n, spm ? 0 : fallback(wpm, 100));
  vocab.pad = read_token_id(file, "tokenizer.ggml.padding_token_id", n, fallback(wpm, 0));
  if (wpm) {  // converters store [CLS] / [SEP] under their own keys
    vocab.bos = read_token_id(file, "tokenizer.ggml.cls_token_id", n, vocab.bos);
    vocab.eos = read_token_id(file, "tokenizer.ggml.seperator_token_id", n, vocab.eos);
  }
  vocab.add_bos = file.get_bool("tokenizer.ggml.add_bos_token").value_or(vocab.add_bos);
  vocab.add_eos = file.get_bool("tokenizer.ggml.add_eos_token").value_or(vocab.add_eos);
  vocab.add_space_prefix = file.get_bool("tokenizer.ggml.add_space_prefix").value_or(vocab.add_space_prefix);
  if (vocab.add_bos && vocab.bos < 0) {
    fail(file, "tokenizer.ggml.bos_token_id", "missing, but tokenizer.ggml.add_bos_token asks for a BOS token");
  }
  if (vocab.add_eos && vocab.eos < 0) {
    fail(file, "tokenizer.ggml.eos_token_id", "missing, but tokenizer.ggml.add_eos_token asks for an EOS token");
  }

  collect_end_of_generation(file, vocab);
  set_strip_attributes(file, vocab);
  return vocab;
}

}  // namespace ternion
