#include "tokenizer/pretokenize.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "ternion/core/error.h"

namespace ternion::detail {

namespace {

// Regexes copied from llama.cpp (src/llama-vocab.cpp, llm_tokenizer_bpe) at the fixtures' commit; written as there.
constexpr const char* kGpt2Regex = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
constexpr const char* kLlama3Regex =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr const char* kQwen2Regex =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr const char* kCjkRegex = "[一-龥ࠀ-一가-퟿]+";

// Only types whose pieces were checked against llama.cpp (fixtures/vocab, fixtures/golden) or that share a checked
// type's regexes are listed; adding one is a row here plus a test with its vocab.
// clang-format 14 does not settle on one layout for the long multi-byte regexes below.
// clang-format off
const std::vector<PreTypeInfo>& pre_types() {
  static const std::vector<PreTypeInfo> types = {
      {{"default"}, {"[\\p{P}\\$\\+<=>\\^~\\|]+", kGpt2Regex, "\\p{N}+", "[0-9][0-9][0-9]"}},
      {{"gpt-2", "phi-2", "roberta-bpe", "jina-es", "jina-de", "gigachat", "jina-v1-en", "jina-v2-es", "jina-v2-de",
        "jina-v2-code", "mpt", "olmo", "jais"},
       {kGpt2Regex}},
      {{"llama3", "llama-v3", "llama-bpe", "falcon3"}, {kLlama3Regex}, true, true},
      {{"dbrx", "smaug-bpe"}, {kLlama3Regex}},
      {{"chatglm-bpe"}, {kLlama3Regex}},
      {{"qwen2", "deepseek-r1-qwen", "stablelm2", "megrez"}, {kQwen2Regex}},
      {{"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b"},
       {"\\p{N}", "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"}},
      {{"falcon"},
       {"[\\p{P}\\$\\+<=>\\^~\\|`]+", "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
        "[0-9][0-9][0-9]"}},
      {{"deepseek-llm"},
       {"[\r\n]",
        "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-"
        "ᵷᵹ-"
        "ᶚḀ-"
        "ἕἘ-"
        "Ἕἠ-"
        "ὅὈ-"
        "Ὅὐ-ὗὙὛὝὟ"
        "-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-"
        "ꞎꭰ-"
        "ꮿﬀ-"
        "ﬆﬓ-"
        "ﬗＡ-"
        "Ｚａ-"
        "ｚ𐐀-𐑏"
        "𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+",
        "\\s?[!-/:-~！-／：-～‘-‟　-。]+", "\\s+$", kCjkRegex, "\\p{N}+"}},
      {{"deepseek-coder"}, {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", kCjkRegex, "\\p{N}"}},
  };
  return types;
}
// clang-format on

// llama.cpp's whitespace code points (unicode_set_whitespace), as the body of a PCRE2 character class.
constexpr std::string_view kWhitespaceClassBody =
    "\\x{9}-\\x{D}\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}";
constexpr std::string_view kNonAsciiWhitespace =
    "\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}";

std::string pcre2_message(int code) {
  PCRE2_UCHAR buffer[256];
  const int n = pcre2_get_error_message(code, buffer, sizeof(buffer));
  return n < 0 ? "PCRE2 error " + std::to_string(code) : std::string(reinterpret_cast<const char*>(buffer));
}

}  // namespace

const PreTypeInfo* find_pre_type(std::string_view name) {
  for (const PreTypeInfo& type : pre_types()) {
    for (std::string_view n : type.names) {
      if (n == name) return &type;
    }
  }
  return nullptr;
}

std::vector<std::string_view> pre_type_names() {
  std::vector<std::string_view> names;
  for (const PreTypeInfo& type : pre_types()) names.insert(names.end(), type.names.begin(), type.names.end());
  return names;
}

std::string pre_type_list() {
  std::string list;
  for (std::string_view name : pre_type_names()) {
    if (!list.empty()) list += ", ";
    list += name;
  }
  return list;
}

std::string adapt_regex(std::string_view pattern) {
  // llama.cpp runs a regex without "\p{..}" on the text with every non-ASCII whitespace character replaced by
  // U+000B, so a character class written with literal characters (deepseek's CJK ranges contain U+3000) never
  // matches one. A lookahead in front of each such class does the same here.
  const bool guard_classes = pattern.find("\\p{") == std::string_view::npos;
  const std::string guard = "(?:(?![" + std::string(kNonAsciiWhitespace) + "])";
  std::string out;
  bool in_class = false;
  bool guarded = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char e = pattern[++i];
      if (e == 's') {
        out += in_class ? std::string(kWhitespaceClassBody) : "[" + std::string(kWhitespaceClassBody) + "]";
      } else if (e == 'S' && !in_class) {
        out += "[^" + std::string(kWhitespaceClassBody) + "]";
      } else if (e == 'S') {
        throw Error("tokenizer: \\S inside a character class is not supported in pre-tokenizer regex");
      } else {
        out += c;
        out += e;
      }
      continue;
    }
    if (!in_class && c == '[') {
      in_class = true;
      const bool negated = i + 1 < pattern.size() && pattern[i + 1] == '^';
      guarded = guard_classes && !negated;
      if (guarded) out += guard;
      out += c;
      // A ']' right after '[' or '[^' is a literal, not the end of the class.
      if (negated) out += pattern[++i];
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') out += pattern[++i];
      continue;
    }
    out += c;
    if (in_class && c == ']') {
      in_class = false;
      if (guarded) out += ')';
    }
  }
  return out;
}

struct PreTokenizer::Regex {
  pcre2_code* code = nullptr;
  ~Regex() { pcre2_code_free(code); }
};

PreTokenizer::PreTokenizer(std::string_view pre, const std::vector<std::string>& custom_regexes)
    : info_(custom_regexes.empty() ? find_pre_type(pre) : &custom_info_) {
  if (info_ == nullptr) {
    throw Error("tokenizer: unsupported BPE pre-tokenizer '" + std::string(pre) + "' (supported: " + pre_type_list() +
                ")");
  }
  for (const std::string& source : custom_regexes) add_regex(source);
  for (const char* source : info_->regexes) add_regex(source);
}

void PreTokenizer::add_regex(std::string_view source) {
  const std::string pattern = adapt_regex(source);
  int error = 0;
  PCRE2_SIZE error_offset = 0;
  auto regex = std::make_unique<Regex>();
  // DOLLAR_ENDONLY: "$" means the end of the piece only, as in std::regex (llama.cpp), not also before a final "\n".
  regex->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                              PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY, &error, &error_offset, nullptr);
  if (regex->code == nullptr) {
    throw Error("tokenizer: cannot compile pre-tokenizer regex '" + std::string(source) + "' at offset " +
                std::to_string(error_offset) + ": " + pcre2_message(error));
  }
  // JIT is an optimisation only: where it is unavailable the interpreter gives the same matches.
  pcre2_jit_compile(regex->code, PCRE2_JIT_COMPLETE);
  regexes_.push_back(std::move(regex));
}

PreTokenizer::~PreTokenizer() = default;

namespace {

struct MatchDataDeleter {
  void operator()(pcre2_match_data* data) const { pcre2_match_data_free(data); }
};

// Appends to `out` the pieces of text[span] under one regex: every match, and every gap between matches.
void split_span(const pcre2_code* code, pcre2_match_data* match, std::string_view text, TextSpan span,
                std::vector<TextSpan>& out) {
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data() + span.offset);
  size_t start = 0;  // where the next search begins, relative to the span
  size_t gap = 0;    // start of text not yet covered by a piece
  while (start < span.length) {
    int rc = pcre2_match(code, subject, span.length, start, PCRE2_NO_UTF_CHECK, match, nullptr);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {  // very long runs can exhaust the JIT stack; the interpreter uses the heap
      rc = pcre2_match(code, subject, span.length, start, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, match, nullptr);
    }
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) throw Error("tokenizer: pre-tokenizer regex failed: " + pcre2_message(rc));
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match);
    const size_t begin = ovector[0];
    const size_t end = ovector[1];
    if (end == begin) {  // none of our patterns matches empty text, but never loop on one that does
      ++start;
      while (start < span.length && (static_cast<uint8_t>(subject[start]) & 0xC0) == 0x80) ++start;
      continue;
    }
    if (begin > gap) out.push_back({span.offset + gap, begin - gap});
    out.push_back({span.offset + begin, end - begin});
    gap = start = end;
  }
  if (gap < span.length) out.push_back({span.offset + gap, span.length - gap});
}

}  // namespace

void PreTokenizer::split(std::string_view text, std::vector<TextSpan>& words) const {
  words.clear();
  if (text.empty()) return;
  words.push_back({0, text.size()});
  std::vector<TextSpan> next;
  for (const auto& regex : regexes_) {
    std::unique_ptr<pcre2_match_data, MatchDataDeleter> match(
        pcre2_match_data_create_from_pattern(regex->code, nullptr));
    if (!match) throw Error("tokenizer: out of memory for regex match data");
    next.clear();
    for (const TextSpan& span : words) split_span(regex->code, match.get(), text, span, next);
    words.swap(next);
  }
}

}  // namespace ternion::detail
