#include "ternion/core/cpu_features.h"

#include <cstdlib>
#include <string_view>

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

namespace ternion {

CpuFeatures detect_cpu_features() {
  CpuFeatures f;
#if defined(__x86_64__)
  __builtin_cpu_init();
  f.avx2 = __builtin_cpu_supports("avx2");
  f.fma = __builtin_cpu_supports("fma");
  f.f16c = f.avx2;  // every AVX2 CPU has F16C
  f.avx512f = __builtin_cpu_supports("avx512f");
  f.avx512bw = __builtin_cpu_supports("avx512bw");
  f.avx512vl = __builtin_cpu_supports("avx512vl");
  f.avx512dq = __builtin_cpu_supports("avx512dq");
  f.avx512vnni = __builtin_cpu_supports("avx512vnni");
  f.avx512bf16 = __builtin_cpu_supports("avx512bf16");
#elif defined(__aarch64__)
  // Advanced SIMD is part of every ARMv8-A Linux target; the dot product (ARMv8.2 SDOT/UDOT) is optional and is
  // read from the kernel's hardware capabilities (Cortex-A72 of a Raspberry Pi 4 lacks it, A76 of a Pi 5 has it).
#if defined(__linux__)
  constexpr unsigned long kHwcapAsimd = 1UL << 1;     // HWCAP_ASIMD
  constexpr unsigned long kHwcapAsimdDp = 1UL << 20;  // HWCAP_ASIMDDP
  const unsigned long hwcap = getauxval(AT_HWCAP);
  f.neon = (hwcap & kHwcapAsimd) != 0;
  f.neon_dotprod = f.neon && (hwcap & kHwcapAsimdDp) != 0;
#else
  f.neon = true;
#if defined(__ARM_FEATURE_DOTPROD)
  f.neon_dotprod = true;
#endif
#endif
#endif
  return f;
}

namespace {

CpuFeatures capped_features() {
  CpuFeatures f = detect_cpu_features();
  const char* cap = std::getenv("TERNION_ISA");
  if (cap == nullptr) return f;
  const std::string_view c(cap);
  if (c == "avx2" || c == "scalar") {
    f.avx512f = f.avx512bw = f.avx512vl = f.avx512dq = f.avx512vnni = f.avx512bf16 = false;
  }
  if (c == "scalar") f.avx2 = f.fma = f.f16c = false;
  if (c == "neon" || c == "scalar") f.neon_dotprod = false;
  if (c == "scalar") f.neon = false;
  return f;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = capped_features();
  return features;
}

std::string CpuFeatures::describe() const {
  std::string s;
  auto add = [&s](bool on, const char* name) {
    if (!on) return;
    if (!s.empty()) s += ' ';
    s += name;
  };
  add(avx2, "AVX2");
  add(fma, "FMA");
  add(f16c, "F16C");
  add(avx512f, "AVX512F");
  add(avx512bw, "AVX512BW");
  add(avx512vl, "AVX512VL");
  add(avx512vnni, "AVX512_VNNI");
  add(avx512bf16, "AVX512_BF16");
  add(neon, "NEON");
  add(neon_dotprod, "DOTPROD");
  return s.empty() ? "scalar" : s;
}

}  // namespace ternion
