// Runs the `ternion` program as a user would, capturing its exit code, stdout and stderr.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace ternion::test {

struct Outcome {
  int code = -1;  // exit status; 128 when the program did not exit normally (a crash)
  std::string out;
  std::string err;
};

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A scratch folder of this test process (tests run in parallel processes).
inline std::filesystem::path cli_scratch_dir() {
  const auto dir = std::filesystem::temp_directory_path() / ("ternion_cli_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir;
}

// Runs the program with `args` (shell syntax) and `input` on standard input.
inline Outcome run_cli(const std::string& args, const std::string& input = "") {
  const auto dir = cli_scratch_dir();
  std::ofstream(dir / "in", std::ios::binary) << input;
  const std::string cmd = std::string(TERNION_BINARY) + " " + args + " >" + (dir / "out").string() + " 2>" +
                          (dir / "err").string() + " <" + (dir / "in").string();
  const int status = std::system(cmd.c_str());
  Outcome o;
  o.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  o.out = slurp(dir / "out");
  o.err = slurp(dir / "err");
  return o;
}

// A failure exits non-zero (not a crash) with exactly one line on stderr that contains `needle`, and no output.
inline void expect_one_line_error(const Outcome& o, const std::string& needle) {
  EXPECT_NE(o.code, 0);
  EXPECT_NE(o.code, 128) << "crashed: " << o.err;
  EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
  EXPECT_NE(o.err.find(needle), std::string::npos) << "stderr: " << o.err;
  EXPECT_TRUE(o.out.empty()) << o.out;
}

}  // namespace ternion::test
