// Walks a gemm tile with fixed-shape micro-kernels: groups of tokens, and inside each group every row, several
// rows at a time. Each output is computed by exactly one micro-kernel call in the order its vec_dot uses, so the
// shape chosen never changes a result.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace ternion::quant {
namespace {

// out[t * ldo + r] for `rows` rows and a fixed number of tokens, starting at w, x, out.
using TileFn = void (*)(int64_t n, const uint8_t* w, size_t w_stride, const uint8_t* x, size_t x_stride, float* out,
                        int64_t ldo);

struct TileShape {
  int rows;     // rows handled by `many`
  TileFn many;  // `rows` rows at once
  TileFn one;   // a single row (the rows left over)
};

// by_tokens[k] handles k + 1 tokens; max_tokens entries.
inline void run_tiles(const TileShape* by_tokens, int max_tokens, int64_t n, const void* w, size_t w_stride,
                      int64_t n_rows, const void* x, size_t x_stride, int64_t n_tokens, float* out, int64_t ldo) {
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* xb = static_cast<const uint8_t*>(x);
  for (int64_t t = 0; t < n_tokens;) {
    const int tt = static_cast<int>(std::min<int64_t>(max_tokens, n_tokens - t));
    const TileShape& k = by_tokens[tt - 1];
    const uint8_t* xt = xb + static_cast<size_t>(t) * x_stride;
    float* ot = out + t * ldo;
    int64_t r = 0;
    for (; r + k.rows <= n_rows; r += k.rows)
      k.many(n, wb + static_cast<size_t>(r) * w_stride, w_stride, xt, x_stride, ot + r, ldo);
    for (; r < n_rows; ++r) k.one(n, wb + static_cast<size_t>(r) * w_stride, w_stride, xt, x_stride, ot + r, ldo);
    t += tt;
  }
}

}  // namespace
}  // namespace ternion::quant
