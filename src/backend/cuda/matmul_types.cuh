// Device decoders of the GGUF weight blocks, one struct per type, mirroring the scalar *_to_float_ref code of
// src/quant (same products, same rounding: no fma contraction).
//
// A row is read in "units": the piece of a block one thread loads with a few aligned loads (8 to 32 elements).
// A unit decodes into kRuns runs of 8 consecutive elements; run k starts at element run_start(u, k) of the row.
//   load(row, u)          the raw bytes and scales of unit u of a row (weights are read once: streaming loads)
//   decode(raw, k, v)     the 8 float values of run k
// Integers become floats through the exponent trick (0x4B000000 | u is 2^23 + u), which is exact and runs at
// full rate where the int-to-float conversion runs at a quarter.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <cstring>

namespace ternion::cuda::detail {

// Every decoder is __host__ __device__: decode_row_on_host (matmul_host.cu) runs them on the CPU, so the block
// layouts are checked against the CPU's dequantisation on machines without a GPU as well.
#define TERNION_HD __host__ __device__ __forceinline__

// A weight load: streaming (evict-first) on the device, where weights are read once and x should stay in L1.
template <class V>
TERNION_HD V stream_load(const V* p) {
#if defined(__CUDA_ARCH__)
  return __ldcs(p);
#else
  return *p;
#endif
}

// Products and differences rounded on their own (no fma contraction), as the CPU's dequantisers round them.
TERNION_HD float mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
TERNION_HD float sub_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}

TERNION_HD float bits_to_float(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
#endif
}

// u - offset for a small unsigned integer u (< 2^23), exactly.
TERNION_HD float small_int_to_float(uint32_t u, float offset) {
  return bits_to_float(0x4B000000u | u) - (8388608.0f + offset);
}

TERNION_HD float fp16_bits_to_float(uint16_t h) {
  __half_raw raw;
  raw.x = h;
  return __half2float(__half(raw));
}

TERNION_HD uint16_t load_u16(const uint8_t* p) { return stream_load(reinterpret_cast<const unsigned short*>(p)); }

// 4 bytes at a 2-byte aligned address.
TERNION_HD uint32_t load_u32_a2(const uint8_t* p) {
  return static_cast<uint32_t>(load_u16(p)) | (static_cast<uint32_t>(load_u16(p + 2)) << 16);
}

TERNION_HD uint4 load_u128(const uint8_t* p) { return stream_load(reinterpret_cast<const uint4*>(p)); }

TERNION_HD uint32_t byte_of(uint32_t word, int i) { return (word >> (8 * i)) & 0xFFu; }

struct TypeF32 {
  static constexpr int kBlockElems = 1, kBlockBytes = 4, kUnitElems = 8, kRuns = 1;
  struct Raw {
    float4 a, b;
  };
  TERNION_HD static Raw load(const uint8_t* row, int u) {
    const float4* p = reinterpret_cast<const float4*>(row) + 2 * u;
    return Raw{stream_load(p), stream_load(p + 1)};
  }
  TERNION_HD static int run_start(int u, int) { return 8 * u; }
  TERNION_HD static void decode(const Raw& r, int, float* v) {
    v[0] = r.a.x, v[1] = r.a.y, v[2] = r.a.z, v[3] = r.a.w;
    v[4] = r.b.x, v[5] = r.b.y, v[6] = r.b.z, v[7] = r.b.w;
  }
};

struct TypeF16 {
  static constexpr int kBlockElems = 1, kBlockBytes = 2, kUnitElems = 8, kRuns = 1;
  struct Raw {
    uint4 q;
  };
  TERNION_HD static Raw load(const uint8_t* row, int u) { return Raw{load_u128(row + 16 * u)}; }
  TERNION_HD static int run_start(int u, int) { return 8 * u; }
  TERNION_HD static void decode(const Raw& r, int, float* v) {
    const uint32_t w[4] = {r.q.x, r.q.y, r.q.z, r.q.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      v[2 * i] = fp16_bits_to_float(static_cast<uint16_t>(w[i] & 0xFFFFu));
      v[2 * i + 1] = fp16_bits_to_float(static_cast<uint16_t>(w[i] >> 16));
    }
  }
};

struct TypeBF16 {
  static constexpr int kBlockElems = 1, kBlockBytes = 2, kUnitElems = 8, kRuns = 1;
  struct Raw {
    uint4 q;
  };
  TERNION_HD static Raw load(const uint8_t* row, int u) { return Raw{load_u128(row + 16 * u)}; }
  TERNION_HD static int run_start(int u, int) { return 8 * u; }
  TERNION_HD static void decode(const Raw& r, int, float* v) {
    const uint32_t w[4] = {r.q.x, r.q.y, r.q.z, r.q.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      v[2 * i] = bits_to_float(w[i] << 16);
      v[2 * i + 1] = bits_to_float(w[i] & 0xFFFF0000u);
    }
  }
};

// Q8_0 (34-byte blocks, 2-byte aligned): value = qs[j] * d. Unit: 8 quants, 4 units a block.
struct TypeQ8_0 {
  static constexpr int kBlockElems = 32, kBlockBytes = 34, kUnitElems = 8, kRuns = 1;
  struct Raw {
    float d;
    uint32_t q[2];
  };
  TERNION_HD static Raw load(const uint8_t* row, int u) {
    const uint8_t* b = row + (u / 4) * kBlockBytes;
    const uint8_t* q = b + 2 + 8 * (u % 4);
    return Raw{fp16_bits_to_float(load_u16(b)), {load_u32_a2(q), load_u32_a2(q + 4)}};
  }
  TERNION_HD static int run_start(int u, int) { return 8 * u; }
  TERNION_HD static void decode(const Raw& r, int, float* v) {
#pragma unroll
    for (int i = 0; i < 8; ++i) v[i] = mul_rn(small_int_to_float(byte_of(r.q[i / 4], i % 4) ^ 0x80u, 128.0f), r.d);
  }
};

// Q4_0 (18-byte blocks): value = (nibble - 8) * d; element j low nibble of qs[j], j + 16 its high nibble.
// Unit: 8 bytes of qs, i.e. 2 runs (low nibbles, high nibbles); 2 units a block.
struct TypeQ4_0 {
  static constexpr int kBlockElems = 32, kBlockBytes = 18, kUnitElems = 16, kRuns = 2;
  struct Raw {
    float d;
    uint32_t q[2];
  };
  TERNION_HD static Raw load(const uint8_t* row, int u) {
    const uint8_t* b = row + (u / 2) * kBlockBytes;
    const uint8_t* q = b + 2 + 8 * (u % 2);
    return Raw{fp16_bits_to_float(load_u16(b)), {load_u32_a2(q), load_u32_a2(q + 4)}};
  }
  TERNION_HD static int run_start(int u, int k) { return (u / 2) * 32 + 8 * (u % 2) + 16 * k; }
  TERNION_HD static void decode(const Raw& r, int k, float* v) {
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const uint32_t byte = byte_of(r.q[i / 4], i % 4);
      v[i] = mul_rn(small_int_to_float(k == 0 ? byte & 0xFu : byte >> 4, 8.0f), r.d);
    }
  }
};

// The 6-bit scale and min of group g from the 12 packed bytes of a Q4_K / Q5_K block (unpack_scale_min_k4).
TERNION_HD void scale_min_k4(const uint32_t* s, int g, uint32_t* sc, uint32_t* m) {
  auto byte = [s](int i) { return byte_of(s[i / 4], i % 4); };
  if (g < 4) {
    *sc = byte(g) & 63u;
    *m = byte(g + 4) & 63u;
  } else {
    *sc = (byte(g + 4) & 0xFu) | ((byte(g - 4) >> 6) << 4);
    *m = (byte(g + 4) >> 4) | ((byte(g) >> 6) << 4);
  }
}

// Shared by Q4_K and Q5_K: the multipliers of groups g and g + 1 (dl = d * scale, ml = dmin * min).
struct KScales {
  float dl[2], ml[2];
};

TERNION_HD KScales load_k_scales(const uint8_t* b, int g) {
  const float d = fp16_bits_to_float(load_u16(b));
  const float dmin = fp16_bits_to_float(load_u16(b + 2));
  const uint32_t s[3] = {stream_load(reinterpret_cast<const unsigned int*>(b + 4)),
                         stream_load(reinterpret_cast<const unsigned int*>(b + 8)),
                         stream_load(reinterpret_cast<const unsigned int*>(b + 12))};
  KScales k;
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    uint32_t sc = 0, m = 0;
    scale_min_k4(s, g + i, &sc, &m);
    k.dl[i] = mul_rn(d, small_int_to_float(sc, 0.0f));
    k.ml[i] = mul_rn(dmin, small_int_to_float(m, 0.0f));
  }
  return k;
}

// Q4_K (144-byte super-blocks, 16-byte aligned in a 16-byte aligned row): value = dl * q - ml, the product
// rounded first. Element 64j + l: low nibble of qs[32j + l], 64j + 32 + l: its high nibble. Unit: 8 bytes of qs
// (j = (u % 16) / 4, quarter h = u % 4) = run 64j + 8h (group 2j, low nibbles) and run 64j + 32 + 8h (group
// 2j + 1, high nibbles); 16 units a block. Small units keep registers low enough for 4 rows a thread.
struct TypeQ4_K {
  static constexpr int kBlockElems = 256, kBlockBytes = 144, kUnitElems = 16, kRuns = 2;
  struct Raw {
    KScales s;
    uint2 q;
  };
  TERNION_HD static Raw load(const uint8_t* row, int u) {
    const uint8_t* b = row + (u / 16) * kBlockBytes;
    const int j = static_cast<int>(u % 16) / 4, h = static_cast<int>(u % 4);
    return Raw{load_k_scales(b, 2 * j), stream_load(reinterpret_cast<const uint2*>(b + 16 + 32 * j + 8 * h))};
  }
  TERNION_HD static int run_start(int u, int k) {
    const int j = (u % 16) / 4, h = u % 4;
    return (u / 16) * 256 + 64 * j + 8 * h + 32 * k;
  }
  TERNION_HD static void decode(const Raw& r, int k, float* v) {
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const uint32_t byte = byte_of(i < 4 ? r.q.x : r.q.y, i % 4);
      const uint32_t q = k ? byte >> 4 : byte & 0xFu;
      v[i] = sub_rn(mul_rn(r.s.dl[k], small_int_to_float(q, 0.0f)), r.s.ml[k]);
    }
  }
};

// Q5_K (176-byte super-blocks: d, dmin, scales[12], qh[32], qs[128]): as Q4_K with a fifth bit; element 32c + l
// has bit c of qh[l]. Unit as Q4_K's (8 bytes of qs), plus the 8 bytes of qh of its quarter.
struct TypeQ5_K {
  static constexpr int kBlockElems = 256, kBlockBytes = 176, kUnitElems = 16, kRuns = 2;
  struct Raw {
    KScales s;
    uint2 q, qh;
    int shift;  // bit of qh for the low run (2j); the high run takes the next
  };
  TERNION_HD static Raw load(const uint8_t* row, int u) {
    const uint8_t* b = row + (u / 16) * kBlockBytes;
    const int j = static_cast<int>(u % 16) / 4, h = static_cast<int>(u % 4);
    return Raw{load_k_scales(b, 2 * j), stream_load(reinterpret_cast<const uint2*>(b + 48 + 32 * j + 8 * h)),
               stream_load(reinterpret_cast<const uint2*>(b + 16 + 8 * h)), 2 * j};
  }
  TERNION_HD static int run_start(int u, int k) { return TypeQ4_K::run_start(u, k); }
  TERNION_HD static void decode(const Raw& r, int k, float* v) {
    const int bit = r.shift + k;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const uint32_t byte = byte_of(i < 4 ? r.q.x : r.q.y, i % 4);
      const uint32_t high = (byte_of(i < 4 ? r.qh.x : r.qh.y, i % 4) >> bit) & 1u;
      const uint32_t q = (k ? byte >> 4 : byte & 0xFu) | (high << 4);
      v[i] = sub_rn(mul_rn(r.s.dl[k], small_int_to_float(q, 0.0f)), r.s.ml[k]);
    }
  }
};

// Q6_K (210-byte super-blocks, 2-byte aligned: ql[128], qh[64], int8 scales[16], d): value = (d * scale) * (q - 32).
// In half h, l < 32: elements l, l + 32, l + 64, l + 96 take the low nibble of ql[l], of ql[l + 32], the high
// nibbles, and bits 0-1, 2-3, 4-5, 6-7 of qh[l]. Unit (u % 16 = 8h + 2j + p): l in [8j, 8j + 8) of half h, the 8
// bytes ql[64h + 32p + 8j ..] and qh[32h + 8j ..]; its runs are the elements l + 32p (low nibbles) and
// l + 64 + 32p (high nibbles). Units p = 0 and 1 share the qh bytes (the second read hits L1).
struct TypeQ6_K {
  static constexpr int kBlockElems = 256, kBlockBytes = 210, kUnitElems = 16, kRuns = 2;
  struct Raw {
    float ds[2];
    uint32_t a[2], c[2];
    int p;
  };
  TERNION_HD static Raw load(const uint8_t* row, int u) {
    const uint8_t* blk = row + (u / 16) * kBlockBytes;
    const int h = static_cast<int>(u % 16) / 8, j = static_cast<int>(u % 8) / 2, p = static_cast<int>(u % 2);
    const uint8_t* ql = blk + 64 * h + 32 * p + 8 * j;
    const uint8_t* qh = blk + 128 + 32 * h + 8 * j;
    Raw r{};
    r.a[0] = load_u32_a2(ql), r.a[1] = load_u32_a2(ql + 4);
    r.c[0] = load_u32_a2(qh), r.c[1] = load_u32_a2(qh + 4);
    r.p = p;
    const float d = fp16_bits_to_float(load_u16(blk + 208));
#pragma unroll
    for (int k = 0; k < 2; ++k) {
      const int g = 8 * h + 2 * (p + 2 * k) + j / 2;  // 16 elements a group
      const uint32_t pair = load_u16(blk + 192 + (g & ~1));
      r.ds[k] = mul_rn(d, static_cast<float>(static_cast<int8_t>(byte_of(pair, g & 1))));
    }
    return r;
  }
  TERNION_HD static int run_start(int u, int k) {
    const int h = (u % 16) / 8, j = (u % 8) / 2, p = u % 2;
    return (u / 16) * 256 + 128 * h + 32 * (p + 2 * k) + 8 * j;
  }
  TERNION_HD static void decode(const Raw& r, int k, float* v) {
    const int shift = 2 * (r.p + 2 * k);
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const uint32_t l = byte_of(r.a[i / 4], i % 4);
      const uint32_t q = (k ? l >> 4 : l & 0xFu) | (((byte_of(r.c[i / 4], i % 4) >> shift) & 3u) << 4);
      v[i] = mul_rn(r.ds[k], small_int_to_float(q, 32.0f));
    }
  }
};

// TQ2_0 (66-byte super-blocks: qs[64], d): value = (t - 1) * d; byte m of qs[32g ..] holds in bits 2l, 2l + 1 the
// trit of element 128g + 32l + m. Unit: 8 bytes qs[32g + 8j ..] (u % 8 = 4g + j): runs 128g + 32l + 8j.
struct TypeTQ2_0 {
  static constexpr int kBlockElems = 256, kBlockBytes = 66, kUnitElems = 32, kRuns = 4;
  struct Raw {
    float d;
    uint32_t q[2];
  };
  TERNION_HD static Raw load(const uint8_t* row, int u) {
    const uint8_t* b = row + (u / 8) * kBlockBytes;
    const uint8_t* q = b + 8 * (u % 8);
    return Raw{fp16_bits_to_float(load_u16(b + 64)), {load_u32_a2(q), load_u32_a2(q + 4)}};
  }
  TERNION_HD static int run_start(int u, int k) {
    const int g = (u % 8) / 4, j = u % 4;
    return (u / 8) * 256 + 128 * g + 32 * k + 8 * j;
  }
  TERNION_HD static void decode(const Raw& r, int k, float* v) {
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const uint32_t t = (byte_of(r.q[i / 4], i % 4) >> (2 * k)) & 3u;
      v[i] = mul_rn(small_int_to_float(t, 1.0f), r.d);
    }
  }
};

}  // namespace ternion::cuda::detail
