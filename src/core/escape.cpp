#include "ternion/core/escape.h"

#include <cstdint>

#include "ternion/core/error.h"

namespace ternion {

namespace {

// Length of the valid UTF-8 sequence at s[i] that is safe on one line, or 0 (invalid, C1 control, U+2028/9).
size_t utf8_printable_length(std::string_view s, size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  size_t n = 0;
  uint32_t cp = 0;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2, cp = b0 & 0x1Fu;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3, cp = b0 & 0x0Fu;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4, cp = b0 & 0x07u;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3Fu);
  }
  const bool overlong = (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000);
  const bool bad = overlong || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || (cp >= 0x80 && cp <= 0x9F) ||
                   cp == 0x2028 || cp == 0x2029;
  return bad ? 0 : n;
}

}  // namespace

std::string escape_text(std::string_view s, size_t max_bytes, bool quotes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  size_t i = 0;
  while (i < s.size() && i < max_bytes) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      if (const size_t n = utf8_printable_length(s, i); n > 0) {
        if (i + n > max_bytes) break;  // never cut a character in half
        out.append(s.substr(i, n));
        i += n;
        continue;
      }
    }
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (quotes && (c == '\\' || c == '"')) {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7F) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
    ++i;
  }
  if (i < s.size()) out += "...";
  return out;
}

std::string one_line_message(const std::string& message) {
  constexpr size_t kMaxMessageBytes = 4096;
  for (const char c : message) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7F) {
      return escape_text(message, kMaxMessageBytes, false);
    }
  }
  return message.size() <= kMaxMessageBytes ? message : escape_text(message, kMaxMessageBytes, false);
}

}  // namespace ternion
