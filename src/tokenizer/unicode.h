// UTF-8 helpers and GPT-2's byte-to-unicode alphabet, shared by the tokenizer files.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ternion::detail {

inline constexpr uint32_t kReplacementChar = 0xFFFD;

// Length of the UTF-8 sequence that `lead` starts, as llama.cpp's unicode_len_utf8 counts it: a stray continuation
// byte counts as 1, a lead byte as its declared length (the caller clips it to the bytes left). SPM and BPE split
// their input into symbols with this, so it must match llama.cpp rather than be strict.
inline size_t utf8_lead_length(uint8_t lead) {
  static constexpr std::array<uint8_t, 16> kLengths = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLengths[lead >> 4];
}

// Appends the UTF-8 encoding of `cpt` (must be <= 0x10FFFF).
void append_utf8(std::string& out, uint32_t cpt);

// Decodes one well-formed UTF-8 character at text[pos] (no overlong forms, surrogates or values above 0x10FFFF).
// Returns its length and sets `cpt`, or returns 0 when the bytes there are not a complete valid character.
size_t decode_utf8(std::string_view text, size_t pos, uint32_t& cpt);

// `text` as llama.cpp's unicode_cpts_from_utf8 reads it before its BPE pre-tokenizer: every byte that does not start
// a sequence becomes U+FFFD (one per byte); overlong forms are accepted and come out in their shortest encoding.
// Always valid UTF-8; `text` unchanged when it already is.
std::string sanitize_utf8(std::string_view text);

// Streaming validation with the "maximal subpart" rule of Unicode (what Python's errors="replace" does): appends to
// `out` every complete character of `bytes`, U+FFFD for each maximal invalid subpart, and returns how many bytes at
// the end form an incomplete but so far valid character (0..3), which the caller keeps for later.
size_t append_valid_utf8(std::string_view bytes, std::string& out);

// True when `text` is entirely well-formed UTF-8.
bool is_valid_utf8(std::string_view text);

// GPT-2 byte-level BPE maps every byte to a printable code point ("bytes_to_unicode" in GPT-2's encoder.py): the
// printable Latin-1 bytes map to themselves, the other 68 bytes to U+0100.. in byte order.
uint32_t gpt2_byte_to_codepoint(uint8_t byte);
// The UTF-8 text of gpt2_byte_to_codepoint(byte).
const std::string& gpt2_byte_to_utf8(uint8_t byte);
// The inverse: the byte for a code point of that alphabet, or -1 for any other code point.
int gpt2_codepoint_to_byte(uint32_t cpt);

}  // namespace ternion::detail
