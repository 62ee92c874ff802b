#include "support/test_support.h"

#include <cstdlib>

namespace ternion::test {

std::filesystem::path fixtures_dir() {
  if (const char* env = std::getenv("TERNION_FIXTURES"); env != nullptr && *env != '\0') return env;
  return TERNION_FIXTURES_DEFAULT;
}

std::filesystem::path fixture(const std::string& relative) { return fixtures_dir() / relative; }

bool slow_build() {
  if (const char* env = std::getenv("TERNION_SLOW_BUILD"); env != nullptr && *env == '1') return true;
#if defined(__SANITIZE_ADDRESS__) || defined(TERNION_COVERAGE_BUILD)
  return true;
#else
  return false;
#endif
}

}  // namespace ternion::test
