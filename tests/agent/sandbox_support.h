// What the agent layer's tests share: a loud skip when no sandbox can start here, and short limits (the suite also
// runs under the sanitizers).
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "ternion/agent/sandbox.h"

namespace ternion::test {

// Whether bwrap runs here, checked once per test program.
inline const std::string& sandbox_unavailable_reason() {
  static const std::string reason = [] {
    std::string why;
    return agent::Sandbox::available(&why) ? std::string() : why;
  }();
  return reason;
}

inline agent::SandboxLimits short_limits() {
  agent::SandboxLimits l;
  l.wall_seconds = 2.0;
  l.cpu_seconds = 1;
  l.memory_bytes = int64_t{256} << 20;
  l.processes = 16;
  l.file_bytes = int64_t{1} << 20;
  l.output_bytes = 4096;
  return l;
}

}  // namespace ternion::test

// Skips the current test, loudly, when no sandbox can start (bwrap missing, user namespaces not allowed).
#define TERNION_REQUIRE_SANDBOX()                                                    \
  do {                                                                               \
    if (!ternion::test::sandbox_unavailable_reason().empty()) {                      \
      std::fprintf(stderr, "\n*** SKIPPED: no sandbox here: %s ***\n\n",             \
                   ternion::test::sandbox_unavailable_reason().c_str());             \
      GTEST_SKIP() << "no sandbox: " << ternion::test::sandbox_unavailable_reason(); \
    }                                                                                \
  } while (0)

// Skips the current test, loudly, when the sandbox has no `program` (a toolchain the test's code needs).
#define TERNION_REQUIRE_SANDBOX_PROGRAM(program)                                           \
  do {                                                                                     \
    if (ternion::agent::find_sandbox_program(program).empty()) {                           \
      std::fprintf(stderr, "\n*** SKIPPED: %s is not installed in /usr ***\n\n", program); \
      GTEST_SKIP() << program << " is not installed";                                      \
    }                                                                                      \
  } while (0)
