#include "tokenizer/unicode.h"

namespace ternion::detail {

void append_utf8(std::string& out, uint32_t cpt) {
  if (cpt < 0x80) {
    out += static_cast<char>(cpt);
  } else if (cpt < 0x800) {
    out += static_cast<char>(0xC0 | (cpt >> 6));
    out += static_cast<char>(0x80 | (cpt & 0x3F));
  } else if (cpt < 0x10000) {
    out += static_cast<char>(0xE0 | (cpt >> 12));
    out += static_cast<char>(0x80 | ((cpt >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cpt & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cpt >> 18));
    out += static_cast<char>(0x80 | ((cpt >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cpt >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cpt & 0x3F));
  }
}

namespace {

// For a lead byte: the sequence length and the allowed range of the second byte (Unicode table 3-7), which is what
// excludes overlong forms, surrogates and code points above U+10FFFF. Length 0 marks a byte that cannot start one.
struct LeadInfo {
  uint8_t length;
  uint8_t second_lo;
  uint8_t second_hi;
};

LeadInfo lead_info(uint8_t b) {
  if (b < 0x80) return {1, 0, 0};
  if (b >= 0xC2 && b <= 0xDF) return {2, 0x80, 0xBF};
  if (b == 0xE0) return {3, 0xA0, 0xBF};
  if (b == 0xED) return {3, 0x80, 0x9F};
  if (b >= 0xE1 && b <= 0xEF) return {3, 0x80, 0xBF};
  if (b == 0xF0) return {4, 0x90, 0xBF};
  if (b >= 0xF1 && b <= 0xF3) return {4, 0x80, 0xBF};
  if (b == 0xF4) return {4, 0x80, 0x8F};
  return {0, 0, 0};
}

// How many bytes from text[pos] agree with a valid sequence (the maximal subpart), and whether it is complete.
size_t valid_prefix(std::string_view text, size_t pos, bool& complete) {
  const auto b0 = static_cast<uint8_t>(text[pos]);
  const LeadInfo info = lead_info(b0);
  complete = false;
  if (info.length == 0) return 0;
  if (info.length == 1) {
    complete = true;
    return 1;
  }
  size_t n = 1;
  for (; n < info.length; ++n) {
    if (pos + n >= text.size()) return n;  // ran out of bytes: incomplete but valid so far
    const auto b = static_cast<uint8_t>(text[pos + n]);
    const uint8_t lo = n == 1 ? info.second_lo : 0x80;
    const uint8_t hi = n == 1 ? info.second_hi : 0xBF;
    if (b < lo || b > hi) return n;
  }
  complete = true;
  return n;
}

}  // namespace

size_t decode_utf8(std::string_view text, size_t pos, uint32_t& cpt) {
  bool complete = false;
  const size_t n = valid_prefix(text, pos, complete);
  if (!complete) return 0;
  const auto b0 = static_cast<uint8_t>(text[pos]);
  static constexpr uint8_t kLeadMask[5] = {0, 0x7F, 0x1F, 0x0F, 0x07};
  cpt = b0 & kLeadMask[n];
  for (size_t i = 1; i < n; ++i) cpt = (cpt << 6) | (static_cast<uint8_t>(text[pos + i]) & 0x3Fu);
  return n;
}

namespace {

// llama.cpp's unicode_cpt_from_utf8: the lead byte gives the length and the continuation bytes are checked, but
// overlong forms are accepted. Returns the length, or 0 when the bytes at `pos` do not form a sequence.
size_t decode_utf8_lenient(std::string_view text, size_t pos, uint32_t& cpt) {
  const auto b0 = static_cast<uint8_t>(text[pos]);
  size_t n = 0;
  if (b0 < 0x80) {
    cpt = b0;
    return 1;
  }
  if ((b0 & 0xE0) == 0xC0) {
    n = 2;
    cpt = b0 & 0x1Fu;
  } else if ((b0 & 0xF0) == 0xE0) {
    n = 3;
    cpt = b0 & 0x0Fu;
  } else if ((b0 & 0xF8) == 0xF0) {
    n = 4;
    cpt = b0 & 0x07u;
  } else {
    return 0;
  }
  if (pos + n > text.size()) return 0;
  for (size_t i = 1; i < n; ++i) {
    const auto b = static_cast<uint8_t>(text[pos + i]);
    if ((b & 0xC0) != 0x80) return 0;
    cpt = (cpt << 6) | (b & 0x3Fu);
  }
  return n;
}

}  // namespace

std::string sanitize_utf8(std::string_view text) {
  if (is_valid_utf8(text)) return std::string(text);
  std::string out;
  out.reserve(text.size() + 16);
  size_t pos = 0;
  while (pos < text.size()) {
    uint32_t cpt = 0;
    const size_t n = decode_utf8_lenient(text, pos, cpt);
    // Surrogates and values above U+10FFFF cannot be encoded as UTF-8 (llama.cpp passes the first on and throws on
    // the second); they are replaced like any other bad byte.
    if (n == 0 || (cpt >= 0xD800 && cpt <= 0xDFFF) || cpt > 0x10FFFF) {
      append_utf8(out, kReplacementChar);
      ++pos;
    } else {
      append_utf8(out, cpt);  // an overlong form comes out in its shortest encoding, as llama.cpp re-encodes it
      pos += n;
    }
  }
  return out;
}

size_t append_valid_utf8(std::string_view bytes, std::string& out) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    bool complete = false;
    const size_t n = valid_prefix(bytes, pos, complete);
    if (complete) {
      out.append(bytes.substr(pos, n));
      pos += n;
    } else if (pos + n >= bytes.size() && n > 0) {
      return bytes.size() - pos;  // an incomplete character at the very end: hold it back
    } else {
      append_utf8(out, kReplacementChar);
      pos += n == 0 ? 1 : n;
    }
  }
  return 0;
}

bool is_valid_utf8(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    if (static_cast<uint8_t>(text[pos]) < 0x80) {  // fast path for ASCII
      ++pos;
      continue;
    }
    bool complete = false;
    const size_t n = valid_prefix(text, pos, complete);
    if (!complete) return false;
    pos += n;
  }
  return true;
}

namespace {

struct Gpt2Alphabet {
  std::array<uint32_t, 256> cpt{};
  std::array<std::string, 256> utf8;
  std::array<int16_t, 0x144> byte_of{};  // the alphabet lies below U+0144

  Gpt2Alphabet() {
    byte_of.fill(-1);
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      cpt[b] = printable ? b : next++;
      append_utf8(utf8[b], cpt[b]);
      byte_of[cpt[b]] = static_cast<int16_t>(b);
    }
  }
};

const Gpt2Alphabet& gpt2_alphabet() {
  static const Gpt2Alphabet alphabet;  // immutable after its thread-safe initialisation
  return alphabet;
}

}  // namespace

uint32_t gpt2_byte_to_codepoint(uint8_t byte) { return gpt2_alphabet().cpt[byte]; }

const std::string& gpt2_byte_to_utf8(uint8_t byte) { return gpt2_alphabet().utf8[byte]; }

int gpt2_codepoint_to_byte(uint32_t cpt) {
  const auto& a = gpt2_alphabet();
  return cpt < a.byte_of.size() ? a.byte_of[cpt] : -1;
}

}  // namespace ternion::detail
