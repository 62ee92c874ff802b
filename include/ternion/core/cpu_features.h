// What the running CPU can do, read once at start-up; kernels are chosen from it.
#pragma once

#include <string>

namespace ternion {

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512dq = false;
  bool avx512vnni = false;
  bool avx512bf16 = false;
  bool neon = false;          // ARM64 Advanced SIMD
  bool neon_dotprod = false;  // ARMv8.2 SDOT/UDOT (vdotq_s32)

  bool has_avx512_kernels() const { return avx512f && avx512bw && avx512vl && avx512dq && avx512vnni; }
  std::string describe() const;  // e.g. "AVX2 FMA F16C AVX512F ..."
};

// Features of this CPU (detected on first call). TERNION_ISA caps what is reported (x86-64: avx2|scalar,
// ARM64: neon|scalar, neon dropping the dot product), so tests and benchmarks can exercise the narrower paths
// on a wide machine.
const CpuFeatures& cpu_features();

// Detection without the environment cap.
CpuFeatures detect_cpu_features();

}  // namespace ternion
