// The regex pre-tokenizers of byte-level BPE vocabularies: text -> words, before BPE merges run inside each word.
//
// Each tokenizer.ggml.pre type is a list of regexes, as llama.cpp lists them in llama-vocab.cpp; they are applied in
// turn, each one splitting the pieces the previous one left (matches and the gaps between them both become pieces).
// PCRE2 runs them in UTF + UCP mode; "\s" is rewritten to llama.cpp's exact whitespace set so that the pieces agree
// with llama.cpp on every code point, not only on ASCII.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ternion::detail {

// What a pre type means beyond its regexes (llama.cpp sets these per pre type in llama_vocab::impl::load).
struct PreTypeInfo {
  std::vector<std::string_view> names;  // tokenizer.ggml.pre values with this behaviour
  std::vector<const char*> regexes;
  bool ignore_merges = false;  // a word that is a whole token is emitted as that token without merging (llama3)
  bool add_bos = false;        // default for tokenizer.ggml.add_bos_token
};

// The entry for a tokenizer.ggml.pre name, or nullptr when unsupported.
const PreTypeInfo* find_pre_type(std::string_view name);
// Every supported name, for error messages.
std::vector<std::string_view> pre_type_names();
// "a, b, c" of pre_type_names().
std::string pre_type_list();

struct TextSpan {
  size_t offset = 0;
  size_t length = 0;
};

class PreTokenizer {
 public:
  // Throws Error naming `pre` and the supported types when it is not supported. Non-empty `custom_regexes` (from a
  // tokenizer.json) are used instead of `pre`'s list; Error when one does not compile.
  explicit PreTokenizer(std::string_view pre, const std::vector<std::string>& custom_regexes = {});
  ~PreTokenizer();
  PreTokenizer(const PreTokenizer&) = delete;
  PreTokenizer& operator=(const PreTokenizer&) = delete;

  // Splits `text` (must be valid UTF-8) into words, replacing the contents of `words` with byte spans of `text` that
  // cover it in order. Thread-safe.
  void split(std::string_view text, std::vector<TextSpan>& words) const;

  const PreTypeInfo& info() const { return *info_; }

 private:
  struct Regex;
  void add_regex(std::string_view source);

  PreTypeInfo custom_info_;  // info_ for custom regexes
  const PreTypeInfo* info_;
  std::vector<std::unique_ptr<Regex>> regexes_;
};

// Rewrites one of llama.cpp's regexes for PCRE2 so that it splits text exactly as llama.cpp does: "\s" (in and
// outside classes) and "\S" become explicit classes of llama.cpp's whitespace code points, and in a regex without
// "\p{..}" each positive character class is kept from matching non-ASCII whitespace. Exposed for tests.
std::string adapt_regex(std::string_view pattern);

}  // namespace ternion::detail
