// What the running CPU can do, read once at start-up; kernels are chosen from it.
#pragma once

#include <string>
#include <string_view>

namespace ternion {

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool avx_vnni = false;  // VEX VPDPBUSD on 256-bit registers (Intel 12th gen client and later)
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512dq = false;
  bool avx512vnni = false;
  bool avx512bf16 = false;
  bool neon = false;          // ARM64 Advanced SIMD
  bool neon_dotprod = false;  // ARMv8.2 SDOT/UDOT (vdotq_s32)
  bool neon_i8mm = false;     // ARMv8.6 int8 matrix multiply (SMMLA, vmmlaq_s32)

  bool has_avx2() const { return avx2 && fma && f16c; }
  bool has_avx512() const { return has_avx2() && avx512f && avx512bw && avx512vl && avx512dq; }
  // The *_avx512.cpp files are compiled with VNNI enabled (the compiler may use it anywhere in them).
  bool has_avx512_kernels() const { return has_avx512() && avx512vnni; }
  std::string describe() const;  // e.g. "AVX2 FMA F16C AVX512F ..."
};

// Features of this CPU (detected on first call), capped by TERNION_ISA when it is set (cap_cpu_features), so
// tests and benchmarks can exercise the narrower tiers on a wide machine. Throws ternion::Error for a
// TERNION_ISA that names no tier of this architecture.
const CpuFeatures& cpu_features();

// Detection without the environment cap.
CpuFeatures detect_cpu_features();

// `f` as a CPU of the named tier would have it: every feature above the tier dropped. The tiers, narrowest first:
//   x86-64: scalar, avx2 (AVX2 + FMA + F16C), avxvnni (+ AVX-VNNI), avx512 (+ AVX-512 F/BW/VL/DQ, no VNNI),
//           avx512vnni (+ AVX-512 VNNI and BF16); avxvnni and avx512 are side by side (neither has the other);
//   ARM64:  scalar, neon, neon_dot (+ the dot product), neon_i8mm (+ the int8 matrix multiply).
// An empty name caps nothing. Throws ternion::Error naming the accepted tiers for any other name, including
// a tier of the other architecture.
CpuFeatures cap_cpu_features(CpuFeatures f, std::string_view tier);

}  // namespace ternion
