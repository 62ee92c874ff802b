// HuggingFace tokenizer.json loading: the project's two tokenizers against llama.cpp (same ids as their GGUF files)
// and against transformers (golden/hf-*.json), the Metaspace and pre-tokenizer variants, and malformed files.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/test_support.h"
#include "ternion/core/error.h"
#include "ternion/tokenizer/hf_tokenizer.h"
#include "ternion/tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_test_util.h"

namespace ternion {
namespace {

using Json = nlohmann::json;

constexpr std::string_view kSeparator = "\n__ggml_vocab_test__\n";

// The 46 strings of llama.cpp's tokenizer tests (every .inp file in fixtures/vocab holds the same ones).
std::vector<std::string> vocab_test_strings() {
  const std::string inp = test::read_file(test::fixture("vocab/ggml-vocab-gpt-2.gguf.inp").string());
  std::vector<std::string> out;
  size_t pos = 0;
  for (size_t sep = inp.find(kSeparator); sep != std::string::npos; sep = inp.find(kSeparator, pos)) {
    out.push_back(inp.substr(pos, sep - pos));
    pos = sep + kSeparator.size();
  }
  return out;
}

std::string qwen2_dir() { return test::fixture("hf/kjv-qwen2").string(); }
std::string llama_dir() { return test::fixture("hf/kjv-llama").string(); }

// The message of the Error that loading `json` throws ("" when it loads).
std::string error_of(const std::string& json, const std::string& config = "") {
  try {
    const HfTokenizer hf = hf_tokenizer_from_json(json, config, "/models/x/tokenizer.json");
    const Tokenizer tok(hf.vocab);
    (void)tok.encode("Hello world 123", true, true);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(HfTokenizer, Qwen2MatchesGgufOnGoldenStrings) {
  TOKENIZER_REQUIRE_FIXTURE(qwen2_dir() + "/tokenizer.json");
  const auto golden_path = test::fixture("golden/kjv-qwen2-F16.json");
  TOKENIZER_REQUIRE_FIXTURE(golden_path);
  const HfTokenizer hf = load_hf_tokenizer(qwen2_dir());
  EXPECT_EQ(hf.vocab.kind, VocabKind::Bpe);
  EXPECT_EQ(hf.vocab.pre, "qwen2");
  EXPECT_FALSE(hf.vocab.add_bos);
  const Tokenizer tok(hf.vocab);
  EXPECT_EQ(tok.n_vocab(), 4096);
  EXPECT_TRUE(tok.is_eog(4093));
  EXPECT_TRUE(tok.is_eog(4095));
  const Json golden = Json::parse(test::read_file(golden_path.string()));
  ASSERT_EQ(golden.at("tokenization").size(), 24u);
  for (const auto& c : golden.at("tokenization")) {
    const std::string text = c.at("text");
    SCOPED_TRACE("text: " + text);
    EXPECT_EQ(tok.encode(text, true, false), c.at("ids").get<std::vector<int32_t>>());
    EXPECT_EQ(tok.encode(text, true, true), c.at("ids_parse_special").get<std::vector<int32_t>>());
  }
}

// The same ids as the GGUF tokenizer on llama.cpp's test strings and on the whole validation text, both through the
// recognised "qwen2" pre type and through the regex carried as it is in the file.
TEST(HfTokenizer, Qwen2MatchesGgufOnVocabTestStrings) {
  TOKENIZER_REQUIRE_FIXTURE(qwen2_dir() + "/tokenizer.json");
  TOKENIZER_REQUIRE_FIXTURE(test::fixture("gguf/kjv-qwen2-F16.gguf"));
  TOKENIZER_REQUIRE_FIXTURE(test::fixture("vocab/ggml-vocab-gpt-2.gguf.inp"));
  const Tokenizer gguf = test::load_tokenizer(test::fixture("gguf/kjv-qwen2-F16.gguf").string());
  Vocab vocab = vocab_from_tokenizer_json(qwen2_dir() + "/tokenizer.json");
  const Tokenizer hf(vocab);
  const Json file = Json::parse(test::read_file(qwen2_dir() + "/tokenizer.json"));
  vocab.pre = "custom";
  vocab.pre_regexes = {file.at("pre_tokenizer").at("pretokenizers").at(0).at("pattern").at("Regex")};
  const Tokenizer custom(vocab);

  std::vector<std::string> texts = vocab_test_strings();
  ASSERT_EQ(texts.size(), 46u);
  texts.push_back(test::read_file(test::fixture("text/validation.txt").string()));
  for (const std::string& text : texts) {
    SCOPED_TRACE("text: " + text.substr(0, 80));
    for (bool parse_special : {false, true}) {
      const std::vector<int32_t> expected = gguf.encode(text, true, parse_special);
      EXPECT_EQ(hf.encode(text, true, parse_special), expected);
      EXPECT_EQ(custom.encode(text, true, parse_special), expected);
    }
    EXPECT_EQ(hf.decode(hf.encode(text, false, false), false), text);
  }
}

// tokenizer.json's Metaspace (prepend_scheme "first") differs from SentencePiece where the text starts with a space;
// transformers parses special-token text by default. golden/hf-kjv-llama.json records both tokenizers' ids.
TEST(HfTokenizer, LlamaMatchesTransformers) {
  TOKENIZER_REQUIRE_FIXTURE(llama_dir() + "/tokenizer.json");
  const auto golden_path = test::fixture("golden/hf-kjv-llama.json");
  TOKENIZER_REQUIRE_FIXTURE(golden_path);
  const HfTokenizer hf = load_hf_tokenizer(llama_dir());
  EXPECT_EQ(hf.vocab.kind, VocabKind::Spm);
  EXPECT_TRUE(hf.vocab.add_bos);
  EXPECT_FALSE(hf.vocab.add_eos);
  EXPECT_EQ(hf.vocab.bos, 1);
  EXPECT_EQ(hf.vocab.eos, 2);
  EXPECT_EQ(hf.vocab.unk, 0);
  EXPECT_TRUE(hf.vocab.space_prefix_first_only);
  const Tokenizer tok(hf.vocab);
  const Json golden = Json::parse(test::read_file(golden_path.string()));
  const auto& strings = golden.at("tokenizer_json_vs_sentencepiece").at("strings");
  ASSERT_EQ(strings.size(), 24u);
  size_t n_different = 0;
  for (const auto& c : strings) {
    const std::string text = c.at("text");
    SCOPED_TRACE("text: " + text);
    EXPECT_EQ(tok.encode(text, true, true), c.at("transformers").get<std::vector<int32_t>>());
    n_different += c.at("same").get<bool>() ? 0 : 1;
  }
  EXPECT_GT(n_different, 0u);
}

// With Llama-2's normalizers (Prepend + Replace, no pre-tokenizer) the same vocabulary is llama.cpp's SentencePiece.
TEST(HfTokenizer, Llama2NormalizersMatchSentencePiece) {
  TOKENIZER_REQUIRE_FIXTURE(llama_dir() + "/tokenizer.json");
  const auto golden_path = test::fixture("golden/kjv-llama-F16.json");
  TOKENIZER_REQUIRE_FIXTURE(golden_path);
  Json file = Json::parse(test::read_file(llama_dir() + "/tokenizer.json"));
  file["pre_tokenizer"] = nullptr;
  file["normalizer"] = Json::parse(R"({"type": "Sequence", "normalizers": [
      {"type": "Prepend", "prepend": "▁"}, {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]})");
  const HfTokenizer hf = hf_tokenizer_from_json(file.dump(), test::read_file(llama_dir() + "/tokenizer_config.json"));
  const Tokenizer tok(hf.vocab);
  const Json golden = Json::parse(test::read_file(golden_path.string()));
  for (const auto& c : golden.at("tokenization")) {
    const std::string text = c.at("text");
    SCOPED_TRACE("text: " + text);
    EXPECT_EQ(tok.encode(text, true, false), c.at("ids").get<std::vector<int32_t>>());
    EXPECT_EQ(tok.encode(text, true, true), c.at("ids_parse_special").get<std::vector<int32_t>>());
  }
  const std::string validation = test::read_file(test::fixture("text/validation.txt").string());
  const Tokenizer gguf = test::load_tokenizer(test::fixture("gguf/kjv-llama-F16.gguf").string());
  EXPECT_EQ(tok.encode(validation, true, false), gguf.encode(validation, true, false));
}

// A small byte-level BPE file: "a", "b", "ab", " " (Ġ), "Ġab", with the pre-tokenizer and post-processor given.
std::string tiny_bpe(const std::string& pre_tokenizer, const std::string& post_processor = "null",
                     const std::string& model_extra = "") {
  return R"({"version": "1.0", "added_tokens": [{"id": 5, "content": "<eos>", "special": true},
              {"id": 6, "content": "<bos>", "special": true}, {"id": 8, "content": "xyz", "special": false}],
            "normalizer": null, "pre_tokenizer": )" +
         pre_tokenizer + R"(, "post_processor": )" + post_processor + R"(, "decoder": {"type": "ByteLevel"},
            "model": {"type": "BPE", )" +
         model_extra + R"("vocab": {"a": 0, "b": 1, "ab": 2, "Ġ": 3, "Ġab": 4, "1": 7},
                      "merges": ["a b", ["Ġ", "ab"]]}})";
}

constexpr std::string_view kByteLevel = R"({"type": "ByteLevel", "add_prefix_space": false, "use_regex": true})";

TEST(HfTokenizer, ByteLevelVariants) {
  const HfTokenizer plain = hf_tokenizer_from_json(tiny_bpe(std::string(kByteLevel)));
  EXPECT_EQ(plain.vocab.pre, "gpt-2");
  EXPECT_EQ(plain.vocab.tokens.size(), 9u);
  EXPECT_EQ(plain.vocab.types[3], TokenType::Normal);
  EXPECT_EQ(plain.vocab.types[5], TokenType::Control);
  EXPECT_EQ(plain.vocab.types[8], TokenType::UserDefined);
  const Tokenizer tok(plain.vocab);
  EXPECT_EQ(tok.encode("ab ab", false, false), (std::vector<int32_t>{2, 4}));
  EXPECT_EQ(tok.encode("abxyz<eos>", false, false),
            (std::vector<int32_t>{2, 8}));  // <eos> is not parsed (and has no tokens)
  EXPECT_EQ(tok.encode("abxyz<eos>", false, true), (std::vector<int32_t>{2, 8, 5}));
  EXPECT_TRUE(tok.is_eog(5) || plain.vocab.eos < 0);

  const std::string digits = R"({"type": "Sequence", "pretokenizers": [
      {"type": "Digits", "individual_digits": true}, )" +
                             std::string(kByteLevel) + "]}";
  EXPECT_EQ(hf_tokenizer_from_json(tiny_bpe(digits)).vocab.pre, "smollm");

  // Llama-3's Split regex (as HF writes it) is llama.cpp's "llama3" pre type.
  Json llama3 = Json::parse(R"({"type": "Sequence", "pretokenizers": [
      {"type": "Split", "pattern": {"Regex": ""}, "behavior": "Isolated", "invert": false},
      {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]})");
  llama3["pretokenizers"][0]["pattern"]["Regex"] = R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3})"
                                                   R"(| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  EXPECT_EQ(hf_tokenizer_from_json(tiny_bpe(llama3.dump())).vocab.pre, "llama3");

  const std::string split = R"({"type": "Sequence", "pretokenizers": [
      {"type": "Split", "pattern": {"Regex": "[ab]"}, "behavior": "Isolated", "invert": false},
      {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]})";
  const HfTokenizer custom = hf_tokenizer_from_json(tiny_bpe(split, "null", R"("ignore_merges": true, )"));
  EXPECT_EQ(custom.vocab.pre_regexes, (std::vector<std::string>{"[ab]"}));
  EXPECT_TRUE(custom.vocab.ignore_merges);
  EXPECT_EQ(Tokenizer(custom.vocab).encode("ab", false, false), (std::vector<int32_t>{0, 1}));  // split apart

  const std::string post = R"({"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<bos>"}},
      {"Sequence": {"id": "A"}}, {"SpecialToken": {"id": "<eos>"}}], "special_tokens": {}})";
  const HfTokenizer with_post = hf_tokenizer_from_json(tiny_bpe(std::string(kByteLevel), post));
  EXPECT_EQ(Tokenizer(with_post.vocab).encode("ab", true, false), (std::vector<int32_t>{6, 2, 5}));
  // tokenizer_config.json overrides the post-processor.
  const HfTokenizer with_config = hf_tokenizer_from_json(tiny_bpe(std::string(kByteLevel), post),
                                                         R"({"add_bos_token": false, "eos_token": {"content": "<eos>"},
      "chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]})");
  EXPECT_EQ(Tokenizer(with_config.vocab).encode("ab", true, false), (std::vector<int32_t>{2, 5}));
  EXPECT_EQ(with_config.chat_template, "D");
}

// A small SentencePiece-style file: "▁", "a", "b", "▁a", "▁ab" and byte pieces, with the given Metaspace settings.
std::string tiny_metaspace(const std::string& metaspace) {
  std::string vocab = R"("<unk>": 0, "<s>": 1, "▁": 2, "a": 3, "b": 4, "▁a": 5, "▁ab": 6)";
  for (int b = 0; b < 256; ++b) {
    char piece[16];
    std::snprintf(piece, sizeof piece, "<0x%02X>", b);
    vocab += ", \"" + std::string(piece) + "\": " + std::to_string(7 + b);
  }
  return R"({"added_tokens": [{"id": 1, "content": "<s>", "special": true}],
            "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", )" +
         metaspace + R"(}, "model": {"type": "BPE", "byte_fallback": true, "unk_token": "<unk>", "vocab": {)" + vocab +
         R"(}, "merges": ["▁ a", "▁a b"]}})";
}

TEST(HfTokenizer, MetaspaceSchemes) {
  const auto ids = [](const std::string& metaspace, std::string_view text) {
    return Tokenizer(hf_tokenizer_from_json(tiny_metaspace(metaspace)).vocab).encode(text, false, true);
  };
  using Ids = std::vector<int32_t>;
  const std::string first = R"("prepend_scheme": "first", "split": false)";
  EXPECT_EQ(ids(first, "ab"), (Ids{6}));
  EXPECT_EQ(ids(first, " ab"), (Ids{6}));               // no second "▁" where the text starts with a space
  EXPECT_EQ(ids(first, "ab<s>ab"), (Ids{6, 1, 3, 4}));  // nor after a special token
  const std::string always = R"("prepend_scheme": "always", "split": false)";
  EXPECT_EQ(ids(always, "ab<s>ab"), (Ids{6, 1, 6}));
  EXPECT_EQ(ids(R"("prepend_scheme": "never", "split": false)", "ab"), (Ids{3, 4}));
  EXPECT_EQ(ids(R"("add_prefix_space": true)", "ab  ab"), (Ids{6, 2, 6}));  // old format: always, split
  EXPECT_EQ(ids(always, "\n"), (Ids{2, 7 + 10}));                           // byte fallback
  const Vocab v = hf_tokenizer_from_json(tiny_metaspace(first)).vocab;
  EXPECT_EQ(v.types[7], TokenType::Byte);
  EXPECT_EQ(v.unk, 0);
  EXPECT_EQ(Tokenizer(v).decode(Ids{6, 2, 6}, true), "ab  ab");
}

// Every mistake is one line naming the file and the field.
TEST(HfTokenizer, MalformedFilesFailClearly) {
  const std::string ok = tiny_bpe(std::string(kByteLevel));
  ASSERT_EQ(error_of(ok), "");
  struct Case {
    std::string json;
    std::string needle;
  };
  const auto patch = [&](const std::string& pointer, const std::string& value) {
    Json j = Json::parse(ok);
    j[Json::json_pointer(pointer)] = Json::parse(value);
    return j.dump();
  };
  const std::vector<Case> cases = {
      {"{", "invalid JSON"},
      {"[1, 2]", "expected object"},
      {R"({"version": "1.0"})", "model: missing"},
      {patch("/model/type", R"("Unigram")"), "model.type: unsupported model type 'Unigram'"},
      {patch("/model/type", R"("WordPiece")"), "supported: BPE"},
      {patch("/model/vocab", "[1, 2]"), "model.vocab: expected object, got array"},
      {patch("/model/vocab", "{}"), "model.vocab: the vocabulary is empty"},
      {patch("/model/vocab/a", R"("zero")"), "model.vocab['a']: expected a token id, got string"},
      {patch("/model/vocab/a", "-1"), "outside [0,"},
      {patch("/model/vocab/a", "4000000000"), "token id 4000000000 outside"},
      {patch("/model/vocab/a", "4000000"), "model.vocab: ids up to 4000000 but only"},
      {patch("/model/vocab/a", "1"), "id 1 used twice"},
      {patch("/model/merges", R"("a b")"), "model.merges: expected array"},
      {patch("/model/merges/0", "3"), "model.merges[0]: expected"},
      {patch("/model/dropout", "0.1"), "model.dropout"},
      {patch("/added_tokens/0/id", "1e300"), "added_tokens[0].id: expected a token id, got number"},
      {patch("/added_tokens/0/content", "7"), "added_tokens[0].content: expected string"},
      {patch("/added_tokens/1/special", R"("yes")"), "added_tokens[1].special: expected boolean"},
      {patch("/pre_tokenizer/type", R"("Whitespace")"), "pre_tokenizer.type: unsupported pre-tokenizer 'Whitespace'"},
      {patch("/pre_tokenizer/add_prefix_space", "true"), "pre_tokenizer.add_prefix_space"},
      {patch("/pre_tokenizer", R"({"type": "Split", "pattern": {"Regex": "(("}, "behavior": "Isolated"})"),
       "cannot compile"},
      {patch("/pre_tokenizer", R"({"type": "Split", "pattern": {"Regex": "a"}, "behavior": "Removed"})"),
       "pre_tokenizer.behavior: unsupported 'Removed'"},
      {patch("/normalizer", R"({"type": "Lowercase"})"), "normalizer.type: unsupported normalizer 'Lowercase'"},
      {patch("/post_processor", R"({"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<x>"}}]})"),
       "bos_token: '<x>' is not a token"},
      {patch("/model/vocab/" + std::string(70000, 'a'), "9"), "a token of 70000 bytes"},
  };
  for (const Case& c : cases) {
    const std::string message = error_of(c.json);
    SCOPED_TRACE(c.json.substr(0, 200));
    EXPECT_NE(message.find(c.needle), std::string::npos) << message;
    EXPECT_EQ(message.rfind("/models/x/tokenizer.json", 0), 0u) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
  // Nested Sequences are bounded.
  std::string nested = std::string(kByteLevel);
  for (int i = 0; i < 20; ++i) nested = R"({"type": "Sequence", "pretokenizers": [)" + nested + "]}";
  EXPECT_NE(error_of(tiny_bpe(nested)).find("nested too deeply"), std::string::npos);
  // tokenizer_config.json mistakes name that file.
  const std::string config_error = error_of(ok, R"({"add_bos_token": "yes"})");
  EXPECT_NE(config_error.find("/models/x/tokenizer_config.json: add_bos_token: expected boolean"), std::string::npos)
      << config_error;
  EXPECT_NE(error_of(ok, R"({"add_bos_token": true})").find("bos_token: missing"), std::string::npos);
}

TEST(HfTokenizer, FilesAndFolders) {
  EXPECT_THROW(load_hf_tokenizer("/nonexistent/folder"), Error);
  TOKENIZER_REQUIRE_FIXTURE(qwen2_dir() + "/tokenizer.json");
  EXPECT_TRUE(is_hf_tokenizer_path(qwen2_dir()));
  EXPECT_TRUE(is_hf_tokenizer_path(qwen2_dir() + "/tokenizer.json"));
  EXPECT_FALSE(is_hf_tokenizer_path(test::fixture("gguf/kjv-qwen2-F16.gguf").string()));
  EXPECT_EQ(vocab_from_tokenizer_json(qwen2_dir() + "/tokenizer.json").tokens,
            load_hf_tokenizer(qwen2_dir()).vocab.tokens);
}

}  // namespace
}  // namespace ternion
