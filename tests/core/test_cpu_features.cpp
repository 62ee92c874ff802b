// CPU feature detection and the TERNION_ISA cap (run with TERNION_ISA=scalar|avx2|neon to check each cap).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "ternion/core/cpu_features.h"

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
  const CpuFeatures found = detect_cpu_features();
  const CpuFeatures& f = cpu_features();
  const char* env = std::getenv("TERNION_ISA");
  const std::string cap = env != nullptr ? env : "";
  if (cap == "scalar") {
    EXPECT_FALSE(f.avx2 || f.fma || f.f16c || f.avx512f || f.neon || f.neon_dotprod);
  } else if (cap == "avx2") {
    EXPECT_FALSE(f.avx512f || f.avx512vnni);
    EXPECT_EQ(f.avx2, found.avx2);
  } else if (cap == "neon") {
    EXPECT_FALSE(f.neon_dotprod);
    EXPECT_EQ(f.neon, found.neon);
  } else {
    EXPECT_EQ(f.describe(), found.describe());
  }
}

}  // namespace
}  // namespace ternion
