// UTF-8 decoding for the grammar parser and matcher (internal to the sampling layer).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ternion {

struct Utf8Step {
  uint32_t code_point = 0;
  size_t length = 0;  // 0: not a valid sequence
};

// The number of bytes a sequence starting with `lead` has (1 to 4), or 0 for a byte that cannot start one.
inline int utf8_sequence_length(uint8_t lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;
}

// The code point starting at s[pos]; overlong forms, surrogates and values above U+10FFFF are invalid.
inline Utf8Step decode_utf8_at(std::string_view s, size_t pos) {
  const auto lead = static_cast<uint8_t>(s[pos]);
  const int n = utf8_sequence_length(lead);
  if (n == 0 || pos + static_cast<size_t>(n) > s.size()) return {};
  if (n == 1) return {lead, 1};
  uint32_t cp = lead & (0x7Fu >> n);
  for (int i = 1; i < n; ++i) {
    const auto b = static_cast<uint8_t>(s[pos + static_cast<size_t>(i)]);
    if ((b & 0xC0) != 0x80) return {};
    cp = (cp << 6) | (b & 0x3Fu);
  }
  static constexpr uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return {};
  return {cp, static_cast<size_t>(n)};
}

}  // namespace ternion
