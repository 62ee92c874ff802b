// libFuzzer target for the grammar engine: the input up to its first NUL byte is GBNF (or, when it starts with
// '{', a JSON Schema converted to GBNF first), the rest is text fed to a matcher byte by byte, with the set of
// allowed tokens computed after each byte over a small vocabulary. Everything must either work or throw
// ternion::Error with a one-line message, within small limits; anything else (a sanitizer report, another
// exception, a hang, a trap below) is a bug.
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "ternion/core/error.h"
#include "ternion/sampling/grammar.h"
#include "ternion/sampling/grammar_matcher.h"
#include "ternion/sampling/json_schema.h"

namespace {

std::shared_ptr<const ternion::GrammarVocab> vocab() {
  static const auto v = [] {
    std::vector<std::string> pieces;
    for (int b = 0; b < 256; ++b) pieces.emplace_back(1, static_cast<char>(b));
    for (const char* p : {"{\"", "\":", "true", "ab", "\xc3\xa9", "\xe2\x82", "\xac", " \"", "\n  ", ""}) {
      pieces.emplace_back(p);
    }
    std::vector<bool> eog(pieces.size(), false);
    eog.back() = true;
    return std::make_shared<const ternion::GrammarVocab>(std::move(pieces), std::move(eog));
  }();
  return v;
}

void check_one_line(const ternion::Error& e) {
  if (std::strchr(e.what(), '\n') != nullptr || std::strchr(e.what(), '\r') != nullptr) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  std::string gbnf = input.substr(0, nul);
  const std::string text = nul == std::string::npos ? "" : input.substr(nul + 1, 64);
  ternion::GrammarLimits limits;
  limits.max_rules = 512;
  limits.max_elements = 1u << 14;
  limits.max_repetition = 64;
  try {
    if (!gbnf.empty() && gbnf[0] == '{') gbnf = ternion::json_schema_to_gbnf(std::string_view(gbnf));
    const auto grammar = std::make_shared<const ternion::Grammar>(ternion::Grammar::parse(gbnf, limits));
    ternion::GrammarMatcherLimits ml;
    ml.max_stacks = 64;
    ml.max_expansion = 4096;
    ml.max_depth = 256;
    ternion::GrammarMatcher m(grammar, vocab(), ml);
    std::vector<uint8_t> allowed;
    for (char c : text) {
      m.allowed_tokens(allowed);
      const bool ok = m.allows(static_cast<uint8_t>(c));
      if (ok != (allowed[static_cast<uint8_t>(c)] != 0)) __builtin_trap();  // the trie walk and the check agree
      if (!ok) break;
      m.accept(static_cast<uint8_t>(c));
    }
    (void)m.can_end();
  } catch (const ternion::Error& e) {
    check_one_line(e);
  }
  return 0;
}
