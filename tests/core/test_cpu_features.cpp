// CPU feature detection and the TERNION_ISA cap (run with TERNION_ISA=<tier> to check each cap on this CPU).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "ternion/core/cpu_features.h"
#include "ternion/core/error.h"

namespace ternion {
namespace {

TEST(CpuFeatures, DetectsTheBaseline) {
  const CpuFeatures f = detect_cpu_features();
  std::printf("cpu features: %s\n", f.describe().c_str());
#if defined(__x86_64__)
  EXPECT_TRUE(f.avx2 && f.fma && f.f16c);  // the x86-64 build's baseline
  EXPECT_FALSE(f.neon || f.neon_dotprod);
#elif defined(__aarch64__)
  EXPECT_TRUE(f.neon);  // Advanced SIMD is part of every ARMv8-A Linux system
  EXPECT_FALSE(f.avx2 || f.avx512f);
  EXPECT_EQ(f.describe().find("DOTPROD") != std::string::npos, f.neon_dotprod);
#endif
}

TEST(CpuFeatures, EnvironmentCapsTheLevels) {
  const char* env = std::getenv("TERNION_ISA");
  const CpuFeatures want = cap_cpu_features(detect_cpu_features(), env != nullptr ? env : "");
  EXPECT_EQ(cpu_features().describe(), want.describe());
}

CpuFeatures every_feature() {
  CpuFeatures f;
  f.avx2 = f.fma = f.f16c = f.avx_vnni = true;
  f.avx512f = f.avx512bw = f.avx512vl = f.avx512dq = f.avx512vnni = f.avx512bf16 = true;
  f.neon = f.neon_dotprod = f.neon_i8mm = true;
  return f;
}

// Each tier keeps exactly its own features and those of the tiers below it.
TEST(CpuFeatures, EachTierKeepsItsFeatures) {
  const CpuFeatures all = every_feature();
  EXPECT_EQ(cap_cpu_features(all, "").describe(), all.describe());
  EXPECT_EQ(cap_cpu_features(all, "scalar").describe(), "scalar");
#if defined(__aarch64__)
  EXPECT_EQ(cap_cpu_features(all, "neon").describe(), "AVX2 FMA F16C NEON");  // x86 flags are no ARM64 tier's
  EXPECT_TRUE(cap_cpu_features(all, "neon_dot").neon_dotprod);
  EXPECT_FALSE(cap_cpu_features(all, "neon_dot").neon_i8mm);
  EXPECT_EQ(cap_cpu_features(all, "neon_i8mm").describe(), "AVX2 FMA F16C NEON DOTPROD I8MM");
  EXPECT_THROW(cap_cpu_features(all, "avx2"), Error);
#else
  const CpuFeatures avx2 = cap_cpu_features(all, "avx2");
  EXPECT_EQ(avx2.describe(), "AVX2 FMA F16C NEON");  // ARM64 flags are no x86-64 tier's to drop
  EXPECT_TRUE(avx2.has_avx2());
  EXPECT_FALSE(avx2.avx_vnni || avx2.has_avx512());
  const CpuFeatures vnni = cap_cpu_features(all, "avxvnni");
  EXPECT_TRUE(vnni.has_avx2() && vnni.avx_vnni);
  EXPECT_FALSE(vnni.avx512f || vnni.avx512vnni);
  const CpuFeatures avx512 = cap_cpu_features(all, "avx512");
  EXPECT_TRUE(avx512.has_avx512());
  EXPECT_FALSE(avx512.avx512vnni || avx512.avx512bf16 || avx512.avx_vnni || avx512.has_avx512_kernels());
  const CpuFeatures avx512vnni = cap_cpu_features(all, "avx512vnni");
  EXPECT_TRUE(avx512vnni.has_avx512_kernels() && avx512vnni.avx512bf16);
  EXPECT_FALSE(avx512vnni.avx_vnni);  // no part of the AVX-512 tiers (Zen 4 and Ice Lake lack it)
  EXPECT_THROW(cap_cpu_features(all, "neon"), Error);
#endif
  // A cap never adds a feature.
#if defined(__aarch64__)
  EXPECT_EQ(cap_cpu_features(CpuFeatures{}, "neon_dot").describe(), "scalar");
#else
  EXPECT_EQ(cap_cpu_features(CpuFeatures{}, "avx512vnni").describe(), "scalar");
#endif
}

TEST(CpuFeatures, UnknownTierIsAClearError) {
  try {
    cap_cpu_features(every_feature(), "avx3");
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("TERNION_ISA=avx3"), std::string::npos) << msg;
    EXPECT_NE(msg.find("scalar"), std::string::npos) << msg;
  }
  EXPECT_THROW(cap_cpu_features(every_feature(), "AVX2"), Error);  // names are lower case, as isa_name writes them
}

}  // namespace
}  // namespace ternion
