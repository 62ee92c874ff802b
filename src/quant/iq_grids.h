// The lattices of the low-bit i-quants (IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S) as GGUF defines
// them, and their sign codes. A grid entry packs 8 (IQ1, IQ2) or 4 (IQ3) coordinates, coordinate j in byte j.
//
// IQ2_XXS, IQ2_XS and IQ3_XXS store the signs of a group of 8 in 7 bits: the 8th sign makes the count of minus
// signs even (bit 7 of kIqSigns[code] is the parity of code).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace ternion::quant {

extern const uint64_t kIq2XxsGrid[256];  // magnitudes 8, 25, 43
extern const uint64_t kIq2XsGrid[512];
extern const uint64_t kIq2SGrid[1024];
extern const uint32_t kIq3XxsGrid[256];  // magnitudes 4 .. 62
extern const uint32_t kIq3SGrid[512];    // odd magnitudes 1 .. 15
extern const uint64_t kIq1Grid[2048];    // signed bytes -1, 0, 1

namespace iq_detail {

consteval std::array<uint8_t, 128> make_signs() {
  std::array<uint8_t, 128> t{};
  for (int i = 0; i < 128; ++i) {
    int parity = 0;
    for (int b = 0; b < 7; ++b) parity ^= (i >> b) & 1;
    t[static_cast<size_t>(i)] = static_cast<uint8_t>(i | (parity << 7));
  }
  return t;
}

// Byte j is -1 where sign bit j of kIqSigns[code] is set, else +1 (for _mm256_sign_epi8).
consteval std::array<uint64_t, 128> make_sign_bytes() {
  const std::array<uint8_t, 128> signs = make_signs();
  std::array<uint64_t, 128> t{};
  for (std::size_t i = 0; i < 128; ++i) {
    uint64_t v = 0;
    for (int j = 0; j < 8; ++j) v |= uint64_t{(signs[i] >> j) & 1 ? 0xffu : 0x01u} << (8 * j);
    t[i] = v;
  }
  return t;
}

}  // namespace iq_detail

// The 8 sign bits of a 7-bit sign code (bit j set: coordinate j is negative).
inline constexpr std::array<uint8_t, 128> kIqSigns = iq_detail::make_signs();
inline constexpr std::array<uint64_t, 128> kIqSignBytes = iq_detail::make_sign_bytes();

// Internal linkage: this header is also included by ISA-flagged files (see kernel_common.h).
namespace {

// Byte j of a grid entry, as stored (unsigned magnitude, or for kIq1Grid a signed value).
inline constexpr uint8_t grid_byte(uint64_t entry, int j) { return static_cast<uint8_t>(entry >> (8 * j)); }

}  // namespace

}  // namespace ternion::quant
