// Helpers shared by the tokenizer tests: loading fixture files and building small vocabularies by hand.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "support/test_support.h"
#include "ternion/io/gguf.h"
#include "ternion/tokenizer/tokenizer.h"
#include "ternion/tokenizer/vocab.h"

// TERNION_REQUIRE_FIXTURE for any expression (that macro needs its argument to be a variable named `path`).
#define TOKENIZER_REQUIRE_FIXTURE(expr)        \
  do {                                         \
    const std::filesystem::path path = (expr); \
    TERNION_REQUIRE_FIXTURE(path);             \
  } while (0)

namespace ternion::test {

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline Tokenizer load_tokenizer(const std::string& gguf_path) {
  return Tokenizer(vocab_from_gguf(GgufFile::open(gguf_path)));
}

// Bytes as the golden JSONs print pieces: valid UTF-8 as it is, every other byte as \xNN (Python's
// errors="backslashreplace").
inline std::string escape_invalid_utf8(std::string_view bytes) {
  std::string out;
  size_t i = 0;
  while (i < bytes.size()) {
    const auto b = static_cast<uint8_t>(bytes[i]);
    size_t n = b < 0x80                   ? 1
               : (b >= 0xC2 && b <= 0xDF) ? 2
               : (b >= 0xE0 && b <= 0xEF) ? 3
               : (b >= 0xF0 && b <= 0xF4) ? 4
                                          : 0;
    bool ok = n > 0 && i + n <= bytes.size();
    for (size_t k = 1; ok && k < n; ++k) ok = (static_cast<uint8_t>(bytes[i + k]) & 0xC0) == 0x80;
    if (ok) {
      out.append(bytes.substr(i, n));
      i += n;
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", b);
      out += hex;
      ++i;
    }
  }
  return out;
}

// A gtest-safe test name for a fixture name ("kjv-llama-F16" -> "kjv_llama_F16").
inline std::string param_name(const ::testing::TestParamInfo<std::string>& param) {
  std::string name = param.param;
  for (char& c : name) {
    if (c == '-') c = '_';
  }
  return name;
}

// A hand-made vocabulary: tokens with their scores (SPM) and types; everything else as the caller sets it.
struct VocabBuilder {
  Vocab vocab;
  explicit VocabBuilder(VocabKind kind) { vocab.kind = kind; }
  int32_t add(const std::string& text, float score = 0.0f, TokenType type = TokenType::Normal) {
    vocab.tokens.push_back(text);
    vocab.scores.push_back(score);
    vocab.types.push_back(type);
    return static_cast<int32_t>(vocab.tokens.size() - 1);
  }
};

}  // namespace ternion::test
