#include "ternion/core/cpu_features.h"

#include <cstdlib>
#include <string>
#include <string_view>

#include "ternion/core/error.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif
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
  // AVX-VNNI is CPUID leaf 7 sub-leaf 1, EAX bit 4 (read directly: not every compiler's __builtin_cpu_supports
  // knows it); the OS saves its registers whenever it saves AVX2's.
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  f.avx_vnni = f.avx2 && __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) != 0 && (eax & (1u << 4)) != 0;
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
  constexpr unsigned long kHwcap2I8mm = 1UL << 13;  // HWCAP2_I8MM
  f.neon_i8mm = f.neon_dotprod && (getauxval(AT_HWCAP2) & kHwcap2I8mm) != 0;
#else
  f.neon = true;
#if defined(__ARM_FEATURE_DOTPROD)
  f.neon_dotprod = true;
#endif
#if defined(__ARM_FEATURE_MATMUL_INT8)
  f.neon_i8mm = f.neon_dotprod;
#endif
#endif
#endif
  return f;
}

namespace {

// The tiers of this architecture, narrowest first (cap_cpu_features).
#if defined(__aarch64__)
constexpr std::string_view kTiers[] = {"scalar", "neon", "neon_dot", "neon_i8mm"};
#else
constexpr std::string_view kTiers[] = {"scalar", "avx2", "avxvnni", "avx512", "avx512vnni"};
#endif

[[noreturn]] void throw_unknown_tier(std::string_view tier) {
  std::string names;
  for (std::string_view t : kTiers) names += (names.empty() ? "" : ", ") + std::string(t);
  throw Error("TERNION_ISA=" + std::string(tier) + " is not an instruction-set tier of this CPU architecture (" +
              names + ")");
}

CpuFeatures capped_features() {
  const char* cap = std::getenv("TERNION_ISA");
  return cap_cpu_features(detect_cpu_features(), cap != nullptr ? cap : "");
}

}  // namespace

CpuFeatures cap_cpu_features(CpuFeatures f, std::string_view tier) {
  if (tier.empty()) return f;
  bool known = false;
  for (std::string_view t : kTiers) known = known || t == tier;
  if (!known) throw_unknown_tier(tier);
  const bool scalar = tier == "scalar";
  // x86-64: avx2 < avxvnni, avx2 < avx512 < avx512vnni (AVX-VNNI is no part of the AVX-512 tiers: Zen 4 and Ice
  // Lake lack it).
  if (tier != "avx512vnni") f.avx512vnni = f.avx512bf16 = false;
  if (tier != "avx512vnni" && tier != "avx512") f.avx512f = f.avx512bw = f.avx512vl = f.avx512dq = false;
  if (tier != "avxvnni") f.avx_vnni = false;
  if (scalar) f.avx2 = f.fma = f.f16c = false;
  // ARM64: neon < neon_dot < neon_i8mm (the i8mm kernels keep SDOT for decode: every i8mm core has it).
  if (tier != "neon_i8mm") f.neon_i8mm = false;
  if (tier != "neon_dot" && tier != "neon_i8mm") f.neon_dotprod = false;
  if (scalar) f.neon = false;
  return f;
}

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
  add(avx_vnni, "AVX_VNNI");
  add(avx512f, "AVX512F");
  add(avx512bw, "AVX512BW");
  add(avx512vl, "AVX512VL");
  add(avx512vnni, "AVX512_VNNI");
  add(avx512bf16, "AVX512_BF16");
  add(neon, "NEON");
  add(neon_dotprod, "DOTPROD");
  add(neon_i8mm, "I8MM");
  return s.empty() ? "scalar" : s;
}

}  // namespace ternion
