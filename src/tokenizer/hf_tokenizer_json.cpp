// tokenizer.json + tokenizer_config.json -> Vocab (see hf_tokenizer.h for what is supported and why).
//
// A byte-level BPE model maps onto VocabKind::Bpe directly: the same merges, and the pre-tokenizer's regexes either
// recognised as one of llama.cpp's pre types (so that the pieces are exactly llama.cpp's) or carried as they are.
// A SentencePiece-style BPE model (Metaspace, byte fallback) maps onto VocabKind::Spm: converters write every split of
// every piece as a merge, ordered by the piece's score, so "merge the lowest-ranked pair" is "merge into the piece of
// highest score", with -rank as the score.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <optional>
#include <unordered_map>

#include "ternion/core/error.h"
#include "ternion/tokenizer/hf_tokenizer.h"
#include "tokenizer/pretokenize.h"

namespace ternion {

namespace {

using Json = nlohmann::json;

constexpr size_t kMaxTokens = size_t{1} << 22;      // token ids and merges; real vocabularies have up to ~260k
constexpr size_t kMaxTokenBytes = size_t{1} << 16;  // one token's text
constexpr int kMaxNesting = 8;                      // Sequence inside Sequence
constexpr std::string_view kMetaspace = "\xE2\x96\x81";

// Pre-tokenizer regexes as HF writes them, and the llama.cpp pre type that splits text the same way.
constexpr std::string_view kHfGpt2Regex =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
constexpr std::string_view kHfLlama3Regex = R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3})"
                                            R"(| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kHfQwen2Regex = R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N})"
                                           R"(| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

struct KnownPre {
  std::vector<std::string_view> regexes;
  std::string_view pre;
};

const std::vector<KnownPre>& known_pres() {
  static const std::vector<KnownPre> known = {
      {{kHfGpt2Regex}, "gpt-2"},
      {{kHfLlama3Regex}, "llama3"},
      {{kHfQwen2Regex}, "qwen2"},
      {{"\\p{N}", kHfGpt2Regex}, "smollm"},  // Digits(individual_digits) + ByteLevel
  };
  return known;
}

// End-of-generation tokens recognised by text, as vocab_from_gguf does (llama.cpp's lists).
constexpr std::array<std::string_view, 7> kEotTexts = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>", "<｜end▁of▁sentence｜>"};
constexpr std::array<std::string_view, 7> kEogTexts = {"<|eot_id|>",    "<|im_end|>", "<|end|>", "<end_of_turn>",
                                                       "<|endoftext|>", "<|eom_id|>", "<EOT>"};

// A value from the file, shortened and stripped of control characters, for an error message.
std::string quote(std::string_view text) {
  std::string out = "'";
  for (char c : text.substr(0, 80)) out += static_cast<unsigned char>(c) < 0x20 ? '?' : c;
  if (text.size() > 80) out += "...";
  return out + "'";
}

// Type-checked access to one JSON document; every failure is one Error line naming the file and the field.
class Reader {
 public:
  explicit Reader(std::string_view name) : name_(name) {}

  [[noreturn]] void fail(std::string_view field, const std::string& problem) const {
    throw Error(name_ + (field.empty() ? "" : ": " + std::string(field)) + ": " + problem);
  }

  Json parse(std::string_view text) const {
    if (text.size() > kMaxHfTokenizerFileBytes) {
      fail("", std::to_string(text.size()) + " bytes, more than the " + std::to_string(kMaxHfTokenizerFileBytes) +
                   " accepted");
    }
    try {
      return Json::parse(text.begin(), text.end());
    } catch (const Json::exception& e) {
      std::string message = e.what();
      std::replace_if(
          message.begin(), message.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
      fail("", "invalid JSON: " + message);
    }
  }

  // The member `key` of object `obj`, or nullptr when it is absent or null.
  static const Json* find(const Json& obj, std::string_view key) {
    const auto it = obj.find(key);
    return it == obj.end() || it->is_null() ? nullptr : &*it;
  }

  const Json& require(const Json& obj, std::string_view key, const std::string& field) const {
    const Json* value = find(obj, key);
    if (value == nullptr) fail(field, "missing");
    return *value;
  }

  void expect(const Json& value, Json::value_t type, const std::string& field) const {
    const bool ok = type == Json::value_t::number_integer
                        ? value.is_number_integer()
                        : (value.type() == type || (type == Json::value_t::number_float && value.is_number()));
    if (!ok) fail(field, "expected " + std::string(Json(type).type_name()) + ", got " + value.type_name());
  }

  const std::string& string(const Json& value, const std::string& field) const {
    expect(value, Json::value_t::string, field);
    return value.get_ref<const std::string&>();
  }
  const Json& object(const Json& value, const std::string& field) const {
    expect(value, Json::value_t::object, field);
    return value;
  }
  const Json& array(const Json& value, const std::string& field) const {
    expect(value, Json::value_t::array, field);
    return value;
  }
  bool boolean(const Json& obj, std::string_view key, const std::string& field, bool fallback) const {
    const Json* value = find(obj, key);
    if (value == nullptr) return fallback;
    expect(*value, Json::value_t::boolean, field);
    return value->get<bool>();
  }
  // A token id: an integer in [0, kMaxTokens).
  size_t id(const Json& value, const std::string& field) const {
    if (value.is_number_unsigned() && value.get<uint64_t>() < kMaxTokens) return value.get<uint64_t>();
    if (!value.is_number_integer()) fail(field, std::string("expected a token id, got ") + value.type_name());
    fail(field, "token id " + value.dump() + " outside [0, " + std::to_string(kMaxTokens) + ")");
  }
  // A "type" member.
  const std::string& type_of(const Json& obj, const std::string& field) const {
    return string(require(object(obj, field), "type", field + ".type"), field + ".type");
  }

 private:
  std::string name_;
};

// What the pre-tokenizer and normalizer say, gathered from their (possibly nested) Sequences.
struct TextRules {
  std::vector<std::string> regexes;  // Split / Digits / ByteLevel(use_regex), in order
  bool byte_level = false;
  bool metaspace = false;
  std::string prepend_scheme = "always";  // Metaspace
  bool metaspace_split = true;
  bool prepend_normalizer = false;  // Prepend("▁")
  bool replace_normalizer = false;  // Replace(" ", "▁")
};

// Regex syntax for a literal string: every ASCII punctuation character escaped.
std::string escape_regex(std::string_view text) {
  std::string out;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x80 && !std::isalnum(u) && c != ' ') out += '\\';
    out += c;
  }
  return out;
}

void read_split(const Reader& r, const Json& split, const std::string& field, TextRules& rules) {
  const Json& pattern = r.object(r.require(split, "pattern", field + ".pattern"), field + ".pattern");
  if (const Json* regex = Reader::find(pattern, "Regex")) {
    rules.regexes.push_back(r.string(*regex, field + ".pattern.Regex"));
  } else if (const Json* literal = Reader::find(pattern, "String")) {
    rules.regexes.push_back(escape_regex(r.string(*literal, field + ".pattern.String")));
  } else {
    r.fail(field + ".pattern", "expected a Regex or String member");
  }
  if (rules.regexes.back().empty()) r.fail(field + ".pattern", "empty pattern");
  const std::string& behavior = r.string(r.require(split, "behavior", field + ".behavior"), field + ".behavior");
  if (behavior != "Isolated") r.fail(field + ".behavior", "unsupported " + quote(behavior) + " (supported: Isolated)");
  if (r.boolean(split, "invert", field + ".invert", false)) r.fail(field + ".invert", "true is not supported");
}

void read_pre_tokenizer(const Reader& r, const Json& pre, const std::string& field, int depth, TextRules& rules) {
  const std::string& type = r.type_of(pre, field);
  if (type == "Sequence") {
    if (depth >= kMaxNesting) r.fail(field, "Sequences nested too deeply");
    const Json& list = r.array(r.require(pre, "pretokenizers", field + ".pretokenizers"), field + ".pretokenizers");
    for (size_t i = 0; i < list.size(); ++i) {
      read_pre_tokenizer(r, list[i], field + ".pretokenizers[" + std::to_string(i) + "]", depth + 1, rules);
    }
  } else if (type == "ByteLevel") {
    if (r.boolean(pre, "add_prefix_space", field + ".add_prefix_space", true)) {
      r.fail(field + ".add_prefix_space", "true is not supported");
    }
    if (r.boolean(pre, "use_regex", field + ".use_regex", true)) rules.regexes.emplace_back(kHfGpt2Regex);
    rules.byte_level = true;
  } else if (type == "Split") {
    read_split(r, pre, field, rules);
  } else if (type == "Digits") {
    rules.regexes.emplace_back(r.boolean(pre, "individual_digits", field + ".individual_digits", false) ? "\\p{N}"
                                                                                                        : "\\p{N}+");
  } else if (type == "Metaspace") {
    if (const Json* replacement = Reader::find(pre, "replacement")) {
      if (r.string(*replacement, field + ".replacement") != kMetaspace) {
        r.fail(field + ".replacement",
               "unsupported " + quote(replacement->get_ref<const std::string&>()) + " (supported: U+2581)");
      }
    }
    if (const Json* scheme = Reader::find(pre, "prepend_scheme")) {
      rules.prepend_scheme = r.string(*scheme, field + ".prepend_scheme");
      if (rules.prepend_scheme != "first" && rules.prepend_scheme != "always" && rules.prepend_scheme != "never") {
        r.fail(field + ".prepend_scheme",
               "unsupported " + quote(rules.prepend_scheme) + " (supported: first, always, never)");
      }
    } else {  // files from before prepend_scheme
      rules.prepend_scheme = r.boolean(pre, "add_prefix_space", field + ".add_prefix_space", true) ? "always" : "never";
    }
    rules.metaspace_split = r.boolean(pre, "split", field + ".split", true);
    rules.metaspace = true;
  } else {
    r.fail(field + ".type",
           "unsupported pre-tokenizer " + quote(type) + " (supported: Sequence, ByteLevel, Split, Digits, Metaspace)");
  }
}

void read_normalizer(const Reader& r, const Json& norm, const std::string& field, int depth, TextRules& rules) {
  const std::string& type = r.type_of(norm, field);
  if (type == "Sequence") {
    if (depth >= kMaxNesting) r.fail(field, "Sequences nested too deeply");
    const Json& list = r.array(r.require(norm, "normalizers", field + ".normalizers"), field + ".normalizers");
    for (size_t i = 0; i < list.size(); ++i) {
      read_normalizer(r, list[i], field + ".normalizers[" + std::to_string(i) + "]", depth + 1, rules);
    }
  } else if (type == "Prepend") {
    if (r.string(r.require(norm, "prepend", field + ".prepend"), field + ".prepend") != kMetaspace) {
      r.fail(field + ".prepend", "only U+2581 is supported");
    }
    rules.prepend_normalizer = true;
  } else if (type == "Replace") {
    const Json& pattern = r.object(r.require(norm, "pattern", field + ".pattern"), field + ".pattern");
    const Json* literal = Reader::find(pattern, "String");
    const Json& content = r.require(norm, "content", field + ".content");
    if (literal == nullptr || r.string(*literal, field + ".pattern.String") != " " ||
        r.string(content, field + ".content") != kMetaspace) {
      r.fail(field, "only Replace(\" \", U+2581) is supported");
    }
    rules.replace_normalizer = true;
  } else if (type != "NFC") {  // NFC is left out, as llama.cpp leaves it out
    r.fail(field + ".type", "unsupported normalizer " + quote(type) + " (supported: Sequence, Prepend, Replace, NFC)");
  }
}

// The parts of tokenizer.json the Vocab is built from, checked.
struct AddedToken {
  size_t id;
  bool special, lstrip, rstrip;
};

struct HfModel {
  std::vector<std::string> tokens;  // id -> text, holes empty
  std::vector<uint8_t> present;     // id -> has a text
  std::vector<std::string> merges;  // "a b"
  std::vector<AddedToken> added;
  bool byte_fallback = false, ignore_merges = false;
  std::optional<std::string> unk_token;
};

void put_token(const Reader& r, HfModel& m, size_t id, const std::string& text, const std::string& field) {
  if (text.size() > kMaxTokenBytes) r.fail(field, "a token of " + std::to_string(text.size()) + " bytes");
  if (id >= m.tokens.size()) {
    m.tokens.resize(id + 1);
    m.present.resize(id + 1, 0);
  }
  m.tokens[id] = text;
  m.present[id] = 1;
}

void read_merges(const Reader& r, const Json& merges, HfModel& m) {
  r.array(merges, "model.merges");
  if (merges.size() > kMaxTokens) r.fail("model.merges", std::to_string(merges.size()) + " merges, too many");
  m.merges.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    const std::string field = "model.merges[" + std::to_string(i) + "]";
    const Json& merge = merges[i];
    if (merge.is_string()) {  // "a b"
      m.merges.push_back(merge.get<std::string>());
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {  // ["a", "b"]
      m.merges.push_back(merge[0].get<std::string>() + " " + merge[1].get<std::string>());
    } else {
      r.fail(field, std::string("expected \"a b\" or [\"a\", \"b\"], got ") + merge.type_name());
    }
    if (m.merges.back().size() > 2 * kMaxTokenBytes) r.fail(field, "too long");
  }
}

HfModel read_model(const Reader& r, const Json& root) {
  const Json& model = r.object(r.require(root, "model", "model"), "model");
  const Json* type = Reader::find(model, "type");
  if (type != nullptr && r.string(*type, "model.type") != "BPE") {
    r.fail("model.type", "unsupported model type " + quote(type->get_ref<const std::string&>()) + " (supported: BPE)");
  }
  HfModel m;
  const Json& vocab = r.object(r.require(model, "vocab", "model.vocab"), "model.vocab");
  if (vocab.empty()) r.fail("model.vocab", "the vocabulary is empty");
  if (vocab.size() > kMaxTokens) r.fail("model.vocab", std::to_string(vocab.size()) + " tokens, too many");
  for (const auto& [text, value] : vocab.items()) {
    const std::string field = "model.vocab[" + quote(text) + "]";
    const size_t id = r.id(value, field);
    if (id < m.present.size() && m.present[id] != 0) r.fail(field, "id " + std::to_string(id) + " used twice");
    put_token(r, m, id, text, field);
  }
  read_merges(r, r.require(model, "merges", "model.merges"), m);
  m.byte_fallback = r.boolean(model, "byte_fallback", "model.byte_fallback", false);
  m.ignore_merges = r.boolean(model, "ignore_merges", "model.ignore_merges", false);
  if (const Json* unk = Reader::find(model, "unk_token")) m.unk_token = r.string(*unk, "model.unk_token");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    const Json* affix = Reader::find(model, key);
    if (affix != nullptr && !r.string(*affix, std::string("model.") + key).empty()) {
      r.fail(std::string("model.") + key, "not supported");
    }
  }
  if (const Json* dropout = Reader::find(model, "dropout")) {
    r.expect(*dropout, Json::value_t::number_float, "model.dropout");
    if (dropout->get<double>() != 0.0) r.fail("model.dropout", "BPE dropout is not supported");
  }
  return m;
}

// added_tokens: the special and user-defined tokens, which may lie beyond the model's vocabulary.
void read_added_tokens(const Reader& r, const Json& root, HfModel& m) {
  const Json* added = Reader::find(root, "added_tokens");
  if (added == nullptr) return;
  r.array(*added, "added_tokens");
  if (added->size() > kMaxTokens) r.fail("added_tokens", std::to_string(added->size()) + " tokens, too many");
  for (size_t i = 0; i < added->size(); ++i) {
    const std::string field = "added_tokens[" + std::to_string(i) + "]";
    const Json& token = r.object((*added)[i], field);
    const size_t id = r.id(r.require(token, "id", field + ".id"), field + ".id");
    const std::string& content = r.string(r.require(token, "content", field + ".content"), field + ".content");
    if (content.empty()) r.fail(field + ".content", "empty");
    put_token(r, m, id, content, field + ".content");
    m.added.push_back({id, r.boolean(token, "special", field + ".special", false),
                       r.boolean(token, "lstrip", field + ".lstrip", false),
                       r.boolean(token, "rstrip", field + ".rstrip", false)});
  }
}

// Texts and types by id; an id nobody names becomes an unused "[PAD<id>]", as llama.cpp's converter names them.
void set_tokens(const Reader& r, const HfModel& m, Vocab& vocab) {
  // Real files number their tokens densely; a few bytes must not make a vocabulary of millions of holes.
  const auto named = static_cast<size_t>(std::count(m.present.begin(), m.present.end(), uint8_t{1}));
  if (m.tokens.size() - named > named + 1024) {
    r.fail("model.vocab",
           "ids up to " + std::to_string(m.tokens.size() - 1) + " but only " + std::to_string(named) + " tokens named");
  }
  vocab.tokens = m.tokens;
  vocab.types.assign(m.tokens.size(), TokenType::Normal);
  for (size_t id = 0; id < m.tokens.size(); ++id) {
    if (m.present[id] == 0) {
      vocab.tokens[id] = "[PAD" + std::to_string(id) + "]";
      vocab.types[id] = TokenType::Unused;
    } else if (vocab.tokens[id].empty()) {
      vocab.tokens[id] = "[EMPTY_" + std::to_string(id) + "]";
    }
  }
  for (const AddedToken& a : m.added) {
    vocab.types[a.id] = a.special ? TokenType::Control : TokenType::UserDefined;
    if (a.lstrip) vocab.lstrip.push_back(static_cast<int32_t>(a.id));
    if (a.rstrip) vocab.rstrip.push_back(static_cast<int32_t>(a.id));
  }
}

// Spm scores from merge ranks: the first merge that makes a piece gives it its priority.
void set_scores_from_merges(const HfModel& m, Vocab& vocab) {
  std::unordered_map<std::string, int32_t> ids;
  ids.reserve(vocab.tokens.size());
  for (size_t i = 0; i < vocab.tokens.size(); ++i) ids.emplace(vocab.tokens[i], static_cast<int32_t>(i));
  // A piece no merge makes keeps the lowest score; it can only come out as a single character.
  vocab.scores.assign(vocab.tokens.size(), -1e30f);
  std::vector<uint8_t> scored(vocab.tokens.size(), 0);
  for (size_t rank = 0; rank < m.merges.size(); ++rank) {
    const std::string& merge = m.merges[rank];
    const size_t space = merge.find(' ', 1);
    if (space == std::string::npos) continue;
    const auto it = ids.find(merge.substr(0, space) + merge.substr(space + 1));
    if (it == ids.end()) continue;
    const auto id = static_cast<size_t>(it->second);
    if (scored[id] == 0) vocab.scores[id] = -static_cast<float>(rank);
    scored[id] = 1;
  }
}

bool is_byte_piece(std::string_view text) {
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); };
  return text.size() == 6 && text.substr(0, 3) == "<0x" && hex(text[3]) && hex(text[4]) && text[5] == '>';
}

void configure_spm(const Reader& r, const TextRules& rules, const HfModel& m, Vocab& vocab) {
  vocab.kind = VocabKind::Spm;
  if (!rules.regexes.empty()) r.fail("pre_tokenizer", "Split or Digits with a Metaspace model is not supported");
  if (rules.metaspace) {
    if (rules.prepend_normalizer || rules.replace_normalizer) {
      r.fail("normalizer", "Prepend/Replace together with a Metaspace pre-tokenizer is not supported");
    }
    vocab.add_space_prefix = rules.prepend_scheme != "never";
    vocab.space_prefix_unless_space = true;
    vocab.space_prefix_first_only = rules.prepend_scheme == "first";
    vocab.split_at_space = rules.metaspace_split;
  } else if (rules.replace_normalizer) {  // Llama-2: Prepend("▁") + Replace(" ", "▁"), llama.cpp's own rule
    vocab.add_space_prefix = rules.prepend_normalizer;
  } else {
    r.fail("pre_tokenizer",
           "a BPE model needs a ByteLevel or Metaspace pre-tokenizer, or a Replace(\" \", U+2581) normalizer");
  }
  set_scores_from_merges(m, vocab);
  if (m.byte_fallback) {
    for (size_t i = 0; i < vocab.tokens.size(); ++i) {
      if (vocab.types[i] == TokenType::Normal && is_byte_piece(vocab.tokens[i])) vocab.types[i] = TokenType::Byte;
    }
  }
}

void configure_bpe(const Reader& r, const TextRules& rules, const HfModel& m, Vocab& vocab) {
  vocab.kind = VocabKind::Bpe;
  if (rules.metaspace || rules.prepend_normalizer || rules.replace_normalizer) {
    r.fail("pre_tokenizer", "Metaspace, Prepend or Replace together with ByteLevel is not supported");
  }
  vocab.add_space_prefix = false;
  vocab.merges = m.merges;
  vocab.ignore_merges = m.ignore_merges;
  vocab.pre = "custom";
  for (const KnownPre& known : known_pres()) {
    if (std::equal(rules.regexes.begin(), rules.regexes.end(), known.regexes.begin(), known.regexes.end())) {
      vocab.pre = known.pre;
      return;
    }
  }
  if (rules.regexes.empty()) r.fail("pre_tokenizer", "a byte-level model without any regex split is not supported");
  vocab.pre_regexes = rules.regexes;
  try {  // compile them now, so that a bad one is reported against this file
    const detail::PreTokenizer check(vocab.pre, vocab.pre_regexes);
  } catch (const Error& e) {
    r.fail("pre_tokenizer", e.what());
  }
}

// BOS / EOS as the post-processor adds them (the token texts, resolved to ids later).
struct Specials {
  std::optional<std::string> bos, eos, unk, pad;
  bool add_bos = false, add_eos = false;
  std::string chat_template;
};

std::string special_text(const Reader& r, const Json& value, const std::string& field) {
  if (value.is_object()) return r.string(r.require(value, "content", field + ".content"), field + ".content");
  return r.string(value, field);
}

void read_template(const Reader& r, const Json& post, const std::string& field, Specials& s) {
  const Json& single = r.array(r.require(post, "single", field + ".single"), field + ".single");
  bool seen_sequence = false;
  for (size_t i = 0; i < single.size(); ++i) {
    const std::string item_field = field + ".single[" + std::to_string(i) + "]";
    const Json& item = r.object(single[i], item_field);
    if (Reader::find(item, "Sequence") != nullptr) {
      seen_sequence = true;
    } else if (const Json* special = Reader::find(item, "SpecialToken")) {
      const std::string& text =
          r.string(r.require(r.object(*special, item_field + ".SpecialToken"), "id", item_field + ".SpecialToken.id"),
                   item_field + ".SpecialToken.id");
      // Only the first one before and the last one after the text matter for BOS / EOS.
      if (!seen_sequence && !s.add_bos) {
        s.bos = text;
        s.add_bos = true;
      } else if (seen_sequence) {
        s.eos = text;
        s.add_eos = true;
      }
    } else {
      r.fail(item_field, "expected a Sequence or SpecialToken member");
    }
  }
}

void read_post_processor(const Reader& r, const Json& post, const std::string& field, int depth, Specials& s) {
  const std::string& type = r.type_of(post, field);
  if (type == "Sequence") {
    if (depth >= kMaxNesting) r.fail(field, "Sequences nested too deeply");
    const Json& list = r.array(r.require(post, "processors", field + ".processors"), field + ".processors");
    for (size_t i = 0; i < list.size(); ++i) {
      read_post_processor(r, list[i], field + ".processors[" + std::to_string(i) + "]", depth + 1, s);
    }
  } else if (type == "TemplateProcessing") {
    read_template(r, post, field, s);
  } else if (type == "BertProcessing" || type == "RobertaProcessing") {  // "cls": ["[CLS]", 101], "sep": [...]
    for (const char* key : {"cls", "sep"}) {
      const std::string key_field = field + "." + key;
      const Json& pair = r.array(r.require(post, key, key_field), key_field);
      if (pair.empty()) r.fail(key_field, "expected [text, id]");
      (std::string_view(key) == "cls" ? s.bos : s.eos) = r.string(pair[0], key_field + "[0]");
    }
    s.add_bos = s.add_eos = true;
  } else if (type != "ByteLevel") {
    r.fail(field + ".type",
           "unsupported post-processor " + quote(type) +
               " (supported: Sequence, TemplateProcessing, ByteLevel, BertProcessing, RobertaProcessing)");
  }
}

// tokenizer_config.json: its flags and token texts win over what tokenizer.json implies.
void read_config(std::string_view text, std::string_view name, Specials& s) {
  const Reader r(name);
  const Json root = r.parse(text);
  r.object(root, "");
  s.add_bos = r.boolean(root, "add_bos_token", "add_bos_token", s.add_bos);
  s.add_eos = r.boolean(root, "add_eos_token", "add_eos_token", s.add_eos);
  const std::array<std::pair<const char*, std::optional<std::string>*>, 4> texts = {
      {{"bos_token", &s.bos}, {"eos_token", &s.eos}, {"unk_token", &s.unk}, {"pad_token", &s.pad}}};
  for (const auto& [key, target] : texts) {
    if (const Json* v = Reader::find(root, key)) *target = special_text(r, *v, key);
  }
  if (const Json* chat = Reader::find(root, "chat_template")) {
    if (chat->is_string()) {
      s.chat_template = chat->get<std::string>();
    } else {  // [{"name": "default", "template": "..."}, {"name": "tool_use", ...}]
      r.array(*chat, "chat_template");
      for (size_t i = 0; i < chat->size(); ++i) {
        const std::string field = "chat_template[" + std::to_string(i) + "]";
        const Json& entry = r.object((*chat)[i], field);
        const std::string& entry_name = r.string(r.require(entry, "name", field + ".name"), field + ".name");
        const std::string& body = r.string(r.require(entry, "template", field + ".template"), field + ".template");
        if (i == 0 || entry_name == "default") s.chat_template = body;
        if (entry_name == "default") break;
      }
    }
  }
}

// The id of a special token's text, preferring added tokens; Error when a given text is not a token.
int32_t resolve(const Reader& r, const std::unordered_map<std::string_view, int32_t>& ids,
                const std::optional<std::string>& text, std::string_view what) {
  if (!text) return -1;
  const auto it = ids.find(*text);
  if (it == ids.end()) r.fail(what, quote(*text) + " is not a token of the vocabulary");
  return it->second;
}

void set_specials(const Reader& r, const HfModel& m, const Specials& s, Vocab& vocab) {
  std::unordered_map<std::string_view, int32_t> ids;
  for (size_t i = 0; i < vocab.tokens.size(); ++i) ids.emplace(vocab.tokens[i], static_cast<int32_t>(i));
  for (const AddedToken& a : m.added) ids[vocab.tokens[a.id]] = static_cast<int32_t>(a.id);
  vocab.bos = resolve(r, ids, s.bos, "bos_token");
  vocab.eos = resolve(r, ids, s.eos, "eos_token");
  vocab.unk = resolve(r, ids, s.unk ? s.unk : m.unk_token, "unk_token");
  vocab.pad = resolve(r, ids, s.pad, "pad_token");
  vocab.add_bos = s.add_bos;
  vocab.add_eos = s.add_eos;
  if (vocab.add_bos && vocab.bos < 0) r.fail("bos_token", "missing, but BOS is to be added");
  if (vocab.add_eos && vocab.eos < 0) r.fail("eos_token", "missing, but EOS is to be added");

  for (std::string_view text : kEotTexts) {
    const auto it = ids.find(text);
    if (it != ids.end() && (vocab.eot < 0 || it->second < vocab.eot)) vocab.eot = it->second;
  }
  for (std::string_view text : kEogTexts) {
    const auto it = ids.find(text);
    if (it != ids.end()) vocab.eog.push_back(it->second);
  }
  for (int32_t id : {vocab.eos, vocab.eot}) {
    if (id >= 0) vocab.eog.push_back(id);
  }
  for (int32_t id : vocab.eog) {  // as vocab_from_gguf: recognised end tokens print as nothing
    if (vocab.types[static_cast<size_t>(id)] == TokenType::UserDefined)
      vocab.types[static_cast<size_t>(id)] = TokenType::Control;
  }
  std::sort(vocab.eog.begin(), vocab.eog.end());
  vocab.eog.erase(std::unique(vocab.eog.begin(), vocab.eog.end()), vocab.eog.end());
}

bool has_byte_level_decoder(const Json& root) {
  const Json* decoder = Reader::find(root, "decoder");
  return decoder != nullptr && decoder->is_object() && decoder->value("type", Json()) == "ByteLevel";
}

std::optional<std::string> read_optional_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return std::nullopt;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) throw Error(path.string() + ": cannot read: " + ec.message());
  if (size > kMaxHfTokenizerFileBytes) {
    throw Error(path.string() + ": " + std::to_string(size) + " bytes, more than the " +
                std::to_string(kMaxHfTokenizerFileBytes) + " accepted");
  }
  std::ifstream in(path, std::ios::binary);
  std::string text(static_cast<size_t>(size), '\0');
  if (!in.read(text.data(), static_cast<std::streamsize>(size))) throw Error(path.string() + ": cannot read the file");
  return text;
}

}  // namespace

HfTokenizer hf_tokenizer_from_json(std::string_view tokenizer_json, std::string_view config_json,
                                   std::string_view name) {
  const Reader r(name);
  const Json root = r.parse(tokenizer_json);
  r.object(root, "");
  HfModel m = read_model(r, root);
  read_added_tokens(r, root, m);
  HfTokenizer out;
  Vocab& vocab = out.vocab;
  set_tokens(r, m, vocab);

  TextRules rules;
  if (const Json* pre = Reader::find(root, "pre_tokenizer")) read_pre_tokenizer(r, *pre, "pre_tokenizer", 0, rules);
  if (const Json* norm = Reader::find(root, "normalizer")) read_normalizer(r, *norm, "normalizer", 0, rules);
  if (rules.byte_level || has_byte_level_decoder(root)) {
    configure_bpe(r, rules, m, vocab);
  } else {
    configure_spm(r, rules, m, vocab);
  }
  if (vocab.scores.empty()) vocab.scores.assign(vocab.tokens.size(), 0.0f);

  Specials specials;
  if (const Json* post = Reader::find(root, "post_processor")) {
    read_post_processor(r, *post, "post_processor", 0, specials);
  }
  if (!config_json.empty()) {
    std::string config_name(name);
    const size_t slash = config_name.find_last_of('/');
    config_name = (slash == std::string::npos ? "" : config_name.substr(0, slash + 1)) + "tokenizer_config.json";
    read_config(config_json, config_name, specials);
  }
  set_specials(r, m, specials, vocab);
  out.chat_template = std::move(specials.chat_template);
  return out;
}

HfTokenizer load_hf_tokenizer(const std::string& path) {
  std::filesystem::path file = path;
  std::error_code ec;
  if (std::filesystem::is_directory(file, ec)) file /= "tokenizer.json";
  const std::optional<std::string> json = read_optional_file(file);
  if (!json) throw Error(file.string() + ": cannot open (expected a tokenizer.json or a folder holding one)");
  const std::filesystem::path dir = file.parent_path();
  const std::optional<std::string> config = read_optional_file(dir / "tokenizer_config.json");
  HfTokenizer out = hf_tokenizer_from_json(*json, config.value_or(""), file.string());
  if (out.chat_template.empty()) {  // newer transformers save it in a file of its own
    out.chat_template = read_optional_file(dir / "chat_template.jinja").value_or("");
  }
  return out;
}

Vocab vocab_from_tokenizer_json(const std::string& path) { return load_hf_tokenizer(path).vocab; }

bool is_hf_tokenizer_path(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    return std::filesystem::is_regular_file(std::filesystem::path(path) / "tokenizer.json", ec);
  return path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0;
}

}  // namespace ternion
