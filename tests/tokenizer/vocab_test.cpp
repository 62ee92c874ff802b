// vocab_from_gguf on small GGUF files written in memory: llama.cpp's defaults, end-of-generation detection, and a
// clear one-line Error for every missing or malformed key.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ternion/core/error.h"
#include "ternion/io/gguf.h"
#include "ternion/tokenizer/tokenizer.h"
#include "ternion/tokenizer/vocab.h"

namespace ternion {
namespace {

GgufWriter spm_writer() {
  GgufWriter w;
  w.set_string("tokenizer.ggml.model", "llama");
  w.set_string_array("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "a", "<|im_end|>"});
  w.set_f32_array("tokenizer.ggml.scores", {0, 0, 0, -1, 0});
  w.set_i32_array("tokenizer.ggml.token_type", {2, 3, 3, 1, 1});
  return w;
}

GgufWriter bpe_writer(const std::string& pre) {
  GgufWriter w;
  w.set_string("tokenizer.ggml.model", "gpt2");
  if (!pre.empty()) w.set_string("tokenizer.ggml.pre", pre);
  w.set_string_array("tokenizer.ggml.tokens", {"a", "b", "ab", "<|endoftext|>"});
  w.set_string_array("tokenizer.ggml.merges", {"a b"});
  return w;
}

Vocab load(const GgufWriter& w) {
  const std::vector<uint8_t> bytes = w.to_bytes();
  return vocab_from_gguf(GgufFile::parse(bytes, "test.gguf"));
}

// The Error's message, checked to be one line naming the file and `key`.
std::string error_of(const GgufWriter& w, const std::string& key) {
  try {
    (void)load(w);
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("test.gguf"), std::string::npos) << message;
    EXPECT_NE(message.find(key), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    return message;
  }
  ADD_FAILURE() << "expected an Error about " << key;
  return {};
}

TEST(VocabFromGguf, SpmDefaults) {
  const Vocab v = load(spm_writer());
  EXPECT_EQ(v.kind, VocabKind::Spm);
  EXPECT_EQ(v.pre, "default");
  EXPECT_EQ(v.bos, 1);
  EXPECT_EQ(v.eos, 2);
  EXPECT_EQ(v.unk, 0);
  EXPECT_EQ(v.pad, -1);
  EXPECT_TRUE(v.add_bos);
  EXPECT_FALSE(v.add_eos);
  EXPECT_TRUE(v.add_space_prefix);
  EXPECT_EQ(v.scores[3], -1.0f);
  EXPECT_EQ(v.types[0], TokenType::Unknown);
}

TEST(VocabFromGguf, KeysOverrideDefaults) {
  GgufWriter w = spm_writer();
  w.set_u32("tokenizer.ggml.bos_token_id", 3);
  w.set_u32("tokenizer.ggml.padding_token_id", 0);
  w.set_bool("tokenizer.ggml.add_bos_token", false);
  w.set_bool("tokenizer.ggml.add_eos_token", true);
  w.set_bool("tokenizer.ggml.add_space_prefix", false);
  const Vocab v = load(w);
  EXPECT_EQ(v.bos, 3);
  EXPECT_EQ(v.pad, 0);
  EXPECT_FALSE(v.add_bos);
  EXPECT_TRUE(v.add_eos);
  EXPECT_FALSE(v.add_space_prefix);
}

TEST(VocabFromGguf, OutOfRangeIdsKeepTheDefault) {
  GgufWriter w = spm_writer();
  w.set_u32("tokenizer.ggml.bos_token_id", 5);  // one past the end: llama.cpp warns and keeps its default
  w.set_u32("tokenizer.ggml.padding_token_id", 1000);
  const Vocab v = load(w);
  EXPECT_EQ(v.bos, 1);
  EXPECT_EQ(v.pad, -1);
}

TEST(VocabFromGguf, EndOfGenerationTokensFoundByText) {
  const Vocab v = load(spm_writer());
  EXPECT_EQ(v.eog, (std::vector<int32_t>{2, 4}));  // </s> (EOS) and <|im_end|>
  EXPECT_EQ(v.eot, 4);
  EXPECT_EQ(v.types[4], TokenType::Control);  // forced, as llama.cpp does, so it never prints
  const Tokenizer tok(v);
  EXPECT_TRUE(tok.is_eog(4));
  EXPECT_EQ(tok.token_to_piece(4, false), "");
}

TEST(VocabFromGguf, BpeFiles) {
  const Vocab v = load(bpe_writer("qwen2"));
  EXPECT_EQ(v.kind, VocabKind::Bpe);
  EXPECT_EQ(v.pre, "qwen2");
  EXPECT_EQ(v.merges, std::vector<std::string>{"a b"});
  EXPECT_EQ(v.bos, -1);
  EXPECT_FALSE(v.add_bos);
  EXPECT_FALSE(v.add_space_prefix);
  EXPECT_EQ(v.eog, std::vector<int32_t>{3});
  EXPECT_EQ(Tokenizer(v).encode("abba", false, false), (std::vector<int32_t>{2, 1, 0}));

  EXPECT_EQ(load(bpe_writer("")).pre, "default");  // as llama.cpp, which warns
  GgufWriter llama3 = bpe_writer("llama-bpe");
  error_of(llama3, "tokenizer.ggml.bos_token_id");  // llama3 adds BOS by default, so it needs one
  llama3.set_u32("tokenizer.ggml.bos_token_id", 3);
  EXPECT_TRUE(load(llama3).add_bos);
}

TEST(VocabFromGguf, UnsupportedModelsAndPreTypes) {
  GgufWriter t5 = spm_writer();
  t5.set_string("tokenizer.ggml.model", "t5");
  EXPECT_NE(error_of(t5, "tokenizer.ggml.model").find("supported: llama"), std::string::npos);
  const std::string pre = error_of(bpe_writer("tekken"), "tokenizer.ggml.pre");
  EXPECT_NE(pre.find("'tekken'"), std::string::npos) << pre;
  EXPECT_NE(pre.find("qwen2"), std::string::npos) << pre;
}

TEST(VocabFromGguf, MissingOrMalformedKeys) {
  GgufWriter no_model;
  no_model.set_string_array("tokenizer.ggml.tokens", {"a"});
  error_of(no_model, "tokenizer.ggml.model");

  GgufWriter no_tokens;
  no_tokens.set_string("tokenizer.ggml.model", "llama");
  error_of(no_tokens, "tokenizer.ggml.tokens");

  GgufWriter short_scores = spm_writer();
  short_scores.set_f32_array("tokenizer.ggml.scores", {0, 0});
  EXPECT_NE(error_of(short_scores, "tokenizer.ggml.scores").find("2 scores for 5 tokens"), std::string::npos);

  GgufWriter float_types = spm_writer();
  float_types.set_f32_array("tokenizer.ggml.token_type", {1, 1, 1, 1, 1});
  error_of(float_types, "tokenizer.ggml.token_type");

  GgufWriter string_tokens = spm_writer();
  string_tokens.set_string("tokenizer.ggml.tokens", "a");
  error_of(string_tokens, "tokenizer.ggml.tokens");

  GgufWriter string_bos = spm_writer();
  string_bos.set_string("tokenizer.ggml.bos_token_id", "1");
  error_of(string_bos, "tokenizer.ggml.bos_token_id");

  GgufWriter no_merges;
  no_merges.set_string("tokenizer.ggml.model", "gpt2");
  no_merges.set_string_array("tokenizer.ggml.tokens", {"a"});
  error_of(no_merges, "tokenizer.ggml.merges");

  GgufWriter empty;
  empty.set_string("tokenizer.ggml.model", "llama");
  empty.set_string_array("tokenizer.ggml.tokens", {});
  error_of(empty, "tokenizer.ggml.tokens");
}

TEST(VocabFromGguf, EmptyTokenTextsAreNamed) {
  GgufWriter w = spm_writer();
  w.set_string_array("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "", "x"});
  const Vocab v = load(w);
  EXPECT_EQ(v.tokens[3], "[EMPTY_3]");
}

}  // namespace
}  // namespace ternion
