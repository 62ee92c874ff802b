// libFuzzer target for the tokenizer.json reader. The input is tokenizer.json, optionally followed by a NUL byte and
// tokenizer_config.json. Any input must either load or throw ternion::Error with a one-line message; anything else
// (a sanitizer report, another exception, a trap below) is a bug. A tokenizer that loads must encode and decode a
// few texts, and give back only ids inside its vocabulary.
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "ternion/core/error.h"
#include "ternion/tokenizer/hf_tokenizer.h"
#include "ternion/tokenizer/tokenizer.h"

namespace {

constexpr char kBadUtf8[] = "bad \xFF\xC3 utf8 \0 nul";

void check_message(const ternion::Error& e) {
  if (std::strchr(e.what(), '\n') != nullptr || std::strchr(e.what(), '\r') != nullptr) __builtin_trap();
}

void exercise(const ternion::Tokenizer& tok) {
  const std::string_view texts[] = {
      "Hello world! It's 2025.",
      "  leading spaces\n\ttab\r\nCRLF",
      "caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x99\x82 <s></s><|endoftext|>",
      std::string_view(kBadUtf8, sizeof kBadUtf8 - 1),
  };
  for (std::string_view text : texts) {
    for (bool parse_special : {false, true}) {
      const std::vector<int32_t> ids = tok.encode(text, true, parse_special);
      for (int32_t id : ids) {
        if (id < 0 || id >= tok.n_vocab()) __builtin_trap();
      }
      (void)tok.decode(ids, false);
    }
  }
  for (int32_t id = 0; id < tok.n_vocab() && id < 64; ++id) (void)tok.token_to_piece(id, true);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string_view json = input.substr(0, nul);
  const std::string_view config = nul == std::string_view::npos ? std::string_view() : input.substr(nul + 1);
  try {
    const ternion::HfTokenizer hf = ternion::hf_tokenizer_from_json(json, config, "fuzz/tokenizer.json");
    const ternion::Tokenizer tok(hf.vocab);
    exercise(tok);
  } catch (const ternion::Error& e) {
    check_message(e);
  }
  return 0;
}
