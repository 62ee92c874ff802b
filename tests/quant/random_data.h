// Random inputs for the kernel tests: floats of many magnitudes, and valid blocks of the quantized types.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "ternion/core/fp16.h"

namespace ternion::test {

// Floats in blocks of 32, each block with its own magnitude (1e-30 .. 1e30, and some blocks of zeros), so
// that scales, subnormals and huge values all appear.
inline std::vector<float> random_floats(std::mt19937& rng, int64_t n, bool extreme = true) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> kind(0, 9);
  static const float kScales[] = {1e-30f, 1e-12f, 1e-3f, 1.0f, 3.0f, 100.0f, 1e4f, 1e12f, 1e30f};
  std::uniform_int_distribution<int> pick(0, extreme ? 8 : 0);
  std::vector<float> v(static_cast<size_t>(n));
  float scale = 1.0f;
  for (int64_t i = 0; i < n; ++i) {
    if (i % 32 == 0) scale = extreme ? kScales[pick(rng)] : 1.0f;
    float x = normal(rng) * scale;
    if (extreme) {
      const int k = kind(rng);
      if (k == 0) x = 0.0f;
      if (k == 1) x = -0.0f;
    }
    v[static_cast<size_t>(i)] = x;
  }
  return v;
}

// Well-behaved floats (normal, unit scale) for the matmul checks against a double reference.
inline std::vector<float> normal_floats(std::mt19937& rng, int64_t n, float scale = 1.0f) {
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = normal(rng);
  return v;
}

// A finite fp16 drawn over its whole range (subnormals included), never NaN or infinity.
inline uint16_t random_finite_half(std::mt19937& rng) {
  std::uniform_int_distribution<int> bits(0, 0xffff);
  for (;;) {
    const auto h = static_cast<uint16_t>(bits(rng));
    if ((h & 0x7c00) != 0x7c00) return h;
  }
}

// A fp16 scale of moderate size, as real models have.
inline uint16_t random_scale(std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-0.05f, 0.05f);
  return fp32_to_fp16(u(rng));
}

// n_blocks random blocks of `block_bytes`: a fp16 scale (from scale_fn) then random bytes. For Q8_0
// activations pass q8_activation so the values stay in [-127, 127] as the quantizer makes them.
template <class ScaleFn>
std::vector<uint8_t> random_blocks(std::mt19937& rng, int64_t n_blocks, size_t block_bytes, ScaleFn scale_fn,
                                   bool q8_activation = false) {
  std::uniform_int_distribution<int> byte(0, 255);
  std::vector<uint8_t> v(static_cast<size_t>(n_blocks) * block_bytes);
  for (int64_t b = 0; b < n_blocks; ++b) {
    uint8_t* blk = v.data() + static_cast<size_t>(b) * block_bytes;
    const uint16_t d = scale_fn(rng);
    std::memcpy(blk, &d, 2);
    for (size_t j = 2; j < block_bytes; ++j) {
      int value = byte(rng);
      if (q8_activation && value == 0x80) value = 0x81;  // -128 never comes out of the quantizer
      blk[j] = static_cast<uint8_t>(value);
    }
  }
  return v;
}

inline uint32_t bits_of(float f) { return std::bit_cast<uint32_t>(f); }

}  // namespace ternion::test
