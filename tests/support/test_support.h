// Helpers shared by the tests: where the fixtures are, and a loud skip when they are absent.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

namespace ternion::test {

// The fixtures folder: $TERNION_FIXTURES, else the path configured at build time (../shared/fixtures).
std::filesystem::path fixtures_dir();

// Path of a file under the fixtures folder (not checked).
std::filesystem::path fixture(const std::string& relative);

// True when running under a sanitizer or coverage build, where long checks are shortened.
bool slow_build();

}  // namespace ternion::test

// Skips the current test, loudly, when a fixture file is missing.
#define TERNION_REQUIRE_FIXTURE(fixture_path_)                                                  \
  do {                                                                                          \
    if (!std::filesystem::exists(fixture_path_)) {                                              \
      std::fprintf(stderr, "\n*** SKIPPED: fixture missing: %s (set TERNION_FIXTURES) ***\n\n", \
                   std::filesystem::path(fixture_path_).string().c_str());                      \
      GTEST_SKIP() << "fixture missing: " << std::filesystem::path(fixture_path_).string();     \
    }                                                                                           \
  } while (0)
