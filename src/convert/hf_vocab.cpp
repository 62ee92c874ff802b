#include "convert/hf_vocab.h"

#include <array>
#include <filesystem>
#include <fstream>

#include "ternion/core/error.h"
#include "ternion/tokenizer/hf_tokenizer.h"
#include "ternion/tokenizer/sentencepiece_model.h"

namespace ternion {

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

constexpr std::string_view kMetaspace = "\xE2\x96\x81";

struct SpecialKey {
  const char* type;  // as tokenizer_config.json and config.json name it: bos_token, bos_token_id
  const char* key;   // GGUF key
};

// In the converter's order.
constexpr std::array<SpecialKey, 7> kSpecialKeys = {{
    {"bos", "tokenizer.ggml.bos_token_id"},
    {"eos", "tokenizer.ggml.eos_token_id"},
    {"unk", "tokenizer.ggml.unknown_token_id"},
    {"sep", "tokenizer.ggml.seperator_token_id"},  // sic: llama.cpp's key
    {"pad", "tokenizer.ggml.padding_token_id"},
    {"cls", "tokenizer.ggml.cls_token_id"},
    {"mask", "tokenizer.ggml.mask_token_id"},
}};

// Added tokens that ought to be control tokens although not marked special (llama.cpp's list).
bool looks_special(std::string_view t) {
  return t == "<pad>" || t == "<mask>" || t == "<2mass>" || t == "[@BOS@]" ||
         (t.starts_with("<|") && t.ends_with("|>")) ||
         (t.starts_with("<\xEF\xBD\x9C") && t.ends_with("\xEF\xBD\x9C>")) ||  // <｜ ... ｜>
         (t.starts_with("<unused") && t.ends_with(">"));
}

std::string replace_all(std::string s, std::string_view from, std::string_view to) {
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) {
    s.replace(pos, from.size(), to);
  }
  return s;
}

struct SpmTokens {
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<TokenType> types;
};

void set_added(SpmTokens& v, int64_t id, const std::string& text, TokenType type, const std::string& where) {
  if (id < 0 || id >= static_cast<int64_t>(v.tokens.size())) {
    throw Error(where + ": token id " + std::to_string(id) + " is outside the vocabulary (vocab_size " +
                std::to_string(v.tokens.size()) + ")");
  }
  const auto i = static_cast<size_t>(id);
  v.tokens[i] = text;
  v.scores[i] = -1000.0f;
  v.types[i] = type;
}

// tokenizer.model + added_tokens.json + tokenizer_config.json's added_tokens_decoder, sized to vocab_size.
SpmTokens spm_tokens(const fs::path& dir, const HfConfig& config, const std::optional<Json>& tokenizer_config) {
  const std::string model_path = (dir / "tokenizer.model").string();
  const SentencePieceModel spm = load_sentencepiece_model(model_path);
  if (spm.model_type != SentencePieceModel::Type::Bpe) {
    throw Error(model_path + ": SentencePiece model type " + std::to_string(static_cast<int>(spm.model_type)) +
                " is not supported (only BPE models, as Llama's)");
  }
  const auto n = static_cast<size_t>(config.n_vocab);
  if (spm.pieces.size() > n) {
    throw Error(model_path + ": " + std::to_string(spm.pieces.size()) + " pieces, more than vocab_size " +
                std::to_string(n) + " in " + config.file);
  }
  SpmTokens v;
  v.tokens.resize(n);
  for (size_t i = 0; i < n; ++i) v.tokens[i] = "[PAD" + std::to_string(i) + "]";
  v.scores.assign(n, -10000.0f);
  v.types.assign(n, TokenType::Unused);
  for (size_t i = 0; i < spm.pieces.size(); ++i) {
    const SentencePieceModel::Piece& p = spm.pieces[i];
    v.tokens[i] = p.text;
    v.scores[i] = p.score;
    // User-defined pieces count as normal, as the converter has it.
    const bool kept = p.type == TokenType::Unknown || p.type == TokenType::Control || p.type == TokenType::Unused ||
                      p.type == TokenType::Byte;
    v.types[i] = kept ? p.type : TokenType::Normal;
  }
  const fs::path added_path = dir / "added_tokens.json";
  if (const std::optional<Json> added = read_hf_json(added_path)) {
    if (!added->is_object()) throw Error(added_path.string() + ": expected an object of token text -> id");
    for (const auto& [text, id] : added->items()) {
      if (!id.is_number_integer()) throw Error(added_path.string() + ": id of '" + text + "' is not an integer");
      if (id.get<int64_t>() >= config.n_vocab) continue;  // ignored, as the converter does
      set_added(v, id.get<int64_t>(), text, TokenType::UserDefined, added_path.string());
    }
  }
  if (tokenizer_config) {
    const std::string where = (dir / "tokenizer_config.json").string();
    const auto decoder = tokenizer_config->find("added_tokens_decoder");
    if (decoder != tokenizer_config->end() && decoder->is_object()) {
      for (const auto& [key, entry] : decoder->items()) {
        const auto content = entry.is_object() ? entry.find("content") : entry.end();
        if (content == entry.end() || !content->is_string()) {
          throw Error(where + ": added_tokens_decoder." + key + ": content is missing or not a string");
        }
        int64_t id = -1;
        try {
          size_t used = 0;
          id = std::stoll(key, &used);
          if (used != key.size()) id = -1;
        } catch (const std::exception&) {
          id = -1;
        }
        if (id < 0) throw Error(where + ": added_tokens_decoder: key '" + key + "' is not a token id");
        std::string text = content->get<std::string>();
        const bool special = entry.value("special", false) || looks_special(text);
        if (!special) text = replace_all(text, kMetaspace, " ");  // user-defined spaces pre-normalised
        set_added(v, id, text, special ? TokenType::Control : TokenType::UserDefined, where);
      }
    }
  }
  return v;
}

std::string read_text(const fs::path& path) {
  constexpr uintmax_t kMaxBytes = uintmax_t{16} << 20;
  std::error_code ec;
  const uintmax_t size = fs::file_size(path, ec);
  if (ec || size > kMaxBytes) throw Error(path.string() + ": cannot read (missing, or larger than 16 MB)");
  std::ifstream in(path, std::ios::binary);
  std::string text(static_cast<size_t>(size), '\0');
  if (!in.read(text.data(), static_cast<std::streamsize>(size))) throw Error(path.string() + ": cannot read the file");
  return text;
}

// The text of tokenizer_config.json's <type>_token (a string, or an object with "content").
std::optional<std::string> special_text(const Json& config, const std::string& type) {
  const auto it = config.find(type + "_token");
  if (it == config.end()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object()) {
    const auto content = it->find("content");
    if (content != it->end() && content->is_string()) return content->get<std::string>();
  }
  return std::nullopt;
}

// Special ids, add_bos/add_eos and the chat template, by the converter's rules.
void add_special_metadata(const fs::path& dir, const HfConfig& config, const std::optional<Json>& tokenizer_config,
                          size_t n_vocab, GgufMetadata& metadata) {
  std::vector<std::pair<std::string, int64_t>> ids;  // first one set wins
  const auto set_id = [&](const std::string& type, int64_t id) {
    if (id < 0 || id >= static_cast<int64_t>(n_vocab)) return;
    for (const auto& entry : ids) {
      if (entry.first == type) return;
    }
    ids.emplace_back(type, id);
  };
  std::vector<std::pair<std::string, bool>> add_flags;
  if (tokenizer_config) {
    std::optional<Json> tokenizer_json = read_hf_json(dir / "tokenizer.json");
    const Json* added = nullptr;
    if (tokenizer_json && tokenizer_json->is_object()) {
      const auto it = tokenizer_json->find("added_tokens");
      if (it != tokenizer_json->end() && it->is_array()) added = &*it;
    }
    for (const SpecialKey& k : kSpecialKeys) {
      const auto flag = tokenizer_config->find(std::string("add_") + k.type + "_token");
      if (flag != tokenizer_config->end() && flag->is_boolean()) add_flags.emplace_back(k.type, flag->get<bool>());
      const std::optional<std::string> text = special_text(*tokenizer_config, k.type);
      if (!text || added == nullptr) continue;
      for (const Json& a : *added) {
        if (a.is_object() && a.value("content", Json()) == *text) {
          const auto id = a.find("id");
          if (id != a.end() && id->is_number_integer()) set_id(k.type, id->get<int64_t>());
          break;
        }
      }
    }
  }
  for (const SpecialKey& k : kSpecialKeys) {
    if (const auto it = config.special_ids.find(k.type); it != config.special_ids.end()) set_id(k.type, it->second);
  }
  for (const auto& [type, id] : ids) {
    for (const SpecialKey& k : kSpecialKeys) {
      if (type == k.type) metadata.set_u32(k.key, static_cast<uint32_t>(id));
    }
  }
  for (const auto& [type, value] : add_flags) {
    if (type == "bos" || type == "eos") metadata.set_bool("tokenizer.ggml.add_" + type + "_token", value);
  }
  std::string chat_template;
  if (tokenizer_config) {
    const auto t = tokenizer_config->find("chat_template");
    if (t != tokenizer_config->end() && t->is_string()) {
      chat_template = t->get<std::string>();
    } else if (t != tokenizer_config->end() && t->is_array()) {
      for (const Json& choice : *t) {
        if (choice.is_object() && choice.value("name", Json()) == "default" && choice.contains("template") &&
            choice["template"].is_string()) {
          chat_template = choice["template"].get<std::string>();
        }
      }
    }
  }
  if (chat_template.empty()) {  // newer transformers save it in a file of its own
    const fs::path jinja = dir / "chat_template.jinja";
    std::error_code ec;
    if (fs::is_regular_file(jinja, ec)) chat_template = read_text(jinja);
  }
  if (!chat_template.empty()) metadata.set_string("tokenizer.chat_template", chat_template);
}

// The tokenizer.ggml.* keys for a Vocab's tokens, as llama.cpp's converter writes them: model, pre, tokens, scores
// (SPM only), token_type, merges (BPE only). Special ids and flags are the caller's (their order depends on the
// source). Throws Error, naming `where`, when GGUF cannot express the vocabulary: a byte-level BPE whose
// pre-tokenizer regexes match none of llama.cpp's pre types, or a WordPiece vocabulary.
void set_vocab_metadata(const Vocab& vocab, GgufMetadata& metadata, const std::string& where) {
  if (vocab.kind == VocabKind::WordPiece) throw Error(where + ": WordPiece vocabularies cannot be converted");
  const bool spm = vocab.kind == VocabKind::Spm;
  if (!spm && !vocab.pre_regexes.empty()) {
    throw Error(where +
                ": the pre-tokenizer's regexes match none of llama.cpp's pre types, so GGUF cannot describe this "
                "tokenizer (it runs from the folder itself)");
  }
  metadata.set_string("tokenizer.ggml.model", spm ? "llama" : "gpt2");
  metadata.set_string("tokenizer.ggml.pre", vocab.pre);
  metadata.set_string_array("tokenizer.ggml.tokens", vocab.tokens);
  if (spm) metadata.set_f32_array("tokenizer.ggml.scores", vocab.scores);
  std::vector<int32_t> types;
  types.reserve(vocab.types.size());
  for (const TokenType t : vocab.types) types.push_back(static_cast<int32_t>(t));
  metadata.set_i32_array("tokenizer.ggml.token_type", types);
  if (!spm) metadata.set_string_array("tokenizer.ggml.merges", vocab.merges);
}

}  // namespace

std::optional<Vocab> add_hf_tokenizer_metadata(const std::string& dir_name, const HfConfig& config,
                                               GgufMetadata& metadata, std::string& unconvertible) {
  const fs::path dir(dir_name);
  const std::optional<Json> tokenizer_config = read_hf_json(dir / "tokenizer_config.json");
  if (tokenizer_config && !tokenizer_config->is_object()) {
    throw Error((dir / "tokenizer_config.json").string() + ": expected a JSON object");
  }
  std::error_code ec;
  if (fs::exists(dir / "tokenizer.model", ec)) {
    SpmTokens v = spm_tokens(dir, config, tokenizer_config);
    const size_t n = v.tokens.size();
    metadata.set_string("tokenizer.ggml.model", "llama");
    metadata.set_string("tokenizer.ggml.pre", "default");
    metadata.set_string_array("tokenizer.ggml.tokens", std::move(v.tokens));
    metadata.set_f32_array("tokenizer.ggml.scores", v.scores);
    std::vector<int32_t> types;
    for (const TokenType t : v.types) types.push_back(static_cast<int32_t>(t));
    metadata.set_i32_array("tokenizer.ggml.token_type", types);
    add_special_metadata(dir, config, tokenizer_config, n, metadata);
    if (config.spec->hf_add_prefix_space && tokenizer_config) {
      const auto prefix = tokenizer_config->find("add_prefix_space");
      if (prefix != tokenizer_config->end() && prefix->is_boolean()) {
        metadata.set_bool("tokenizer.ggml.add_space_prefix", prefix->get<bool>());
      }
    }
    return std::nullopt;
  }
  if (!fs::exists(dir / "tokenizer.json", ec)) {
    throw Error(dir_name + ": missing tokenizer.model or tokenizer.json (the model folder has no tokenizer)");
  }
  HfTokenizer hf = load_hf_tokenizer(dir_name);
  Vocab& vocab = hf.vocab;
  if (vocab.tokens.size() > static_cast<size_t>(config.n_vocab)) {
    throw Error((dir / "tokenizer.json").string() + ": " + std::to_string(vocab.tokens.size()) +
                " tokens, more than vocab_size " + std::to_string(config.n_vocab) + " in " + config.file);
  }
  for (size_t i = vocab.tokens.size(); i < static_cast<size_t>(config.n_vocab); ++i) {  // as the converter pads
    vocab.tokens.push_back("[PAD" + std::to_string(i) + "]");
    vocab.scores.push_back(0.0f);
    vocab.types.push_back(TokenType::Unused);
  }
  try {
    set_vocab_metadata(vocab, metadata, (dir / "tokenizer.json").string());
  } catch (const Error& e) {
    unconvertible = e.what();  // the folder still runs with `vocab`
  }
  add_special_metadata(dir, config, tokenizer_config, vocab.tokens.size(), metadata);
  return vocab;
}

}  // namespace ternion
