// The 5-bit quants of Q5_0 and Q5_1: 32 per block; byte j of qs holds quant j (low nibble) and quant j + 16 (high
// nibble), and bit j of the little-endian 32-bit qh is quant j's fifth bit. Internal linkage on purpose (see
// kernel_common.h).
#pragma once

#include <cstdint>
#include <cstring>

namespace ternion::quant {
namespace {

constexpr int kQ5Quants = 32;  // quants per block
constexpr int kQ5Half = kQ5Quants / 2;

// The block's 32 quants (0..31), in element order.
inline void unpack_q5_bits(const uint8_t* qs, const uint8_t* qh_bytes, int* q) {
  uint32_t qh;
  std::memcpy(&qh, qh_bytes, 4);
  for (int j = 0; j < kQ5Half; ++j) {
    q[j] = (qs[j] & 0x0f) | static_cast<int>(((qh >> j) & 1u) << 4);
    q[j + kQ5Half] = (qs[j] >> 4) | static_cast<int>(((qh >> (j + kQ5Half)) & 1u) << 4);
  }
}

// Quants q[0..32) (each 0..31) into qs and qh.
inline void pack_q5_bits(const int* q, uint8_t* qs, uint8_t* qh_bytes) {
  uint32_t qh = 0;
  for (int j = 0; j < kQ5Half; ++j) {
    const int lo = q[j];
    const int hi = q[j + kQ5Half];
    qs[j] = static_cast<uint8_t>((lo & 0x0f) | ((hi & 0x0f) << 4));
    qh |= static_cast<uint32_t>(lo >> 4) << j;
    qh |= static_cast<uint32_t>(hi >> 4) << (j + kQ5Half);
  }
  std::memcpy(qh_bytes, &qh, 4);
}

// (int)v for v >= 0, capped at 31 (NaN also gives 31): a quantizer's last step.
inline int truncate_q5(float v) { return v < 31.0f ? static_cast<int>(v) : 31; }

}  // namespace
}  // namespace ternion::quant
