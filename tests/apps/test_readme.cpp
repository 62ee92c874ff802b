// The README's "Using it" examples run as written, with the shipped model as model.gguf.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "apps/cli_runner.h"
#include "support/test_support.h"

namespace ternion {
namespace {

namespace fs = std::filesystem;

// The command lines of the first ```sh block after `heading`, comments cut off.
std::vector<std::string> example_lines(const std::string& readme, const std::string& heading) {
  const size_t start = readme.find("```sh\n", readme.find(heading));
  const size_t end = readme.find("```\n", start + 6);
  std::vector<std::string> lines;
  size_t at = start + 6;
  while (at < end) {
    const size_t nl = readme.find('\n', at);
    std::string line = readme.substr(at, nl - at);
    at = nl + 1;
    if (const size_t hash = line.find("  #"); hash != std::string::npos) line.resize(hash);
    while (!line.empty() && line.back() == ' ') line.pop_back();
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

TEST(Readme, UsingItExamplesRunAsWritten) {
  const fs::path model = fs::path(TERNION_SOURCE_DIR) / "models" / "kjv-llama-Q8_0.gguf";
  TERNION_REQUIRE_FIXTURE(model);
  TERNION_REQUIRE_FIXTURE(test::fixture("text/validation.txt"));
  const std::string readme = test::slurp(fs::path(TERNION_SOURCE_DIR) / "README.md");
  const std::vector<std::string> lines = example_lines(readme, "## Using it");
  ASSERT_GE(lines.size(), 10u);
  const fs::path dir = test::cli_scratch_dir() / "readme";
  fs::create_directories(dir);
  std::ofstream(dir / "prompt.txt") << "In the beginning\n";
  fs::copy_file(test::fixture("text/validation.txt"), dir / "text.txt", fs::copy_options::overwrite_existing);
  std::ofstream(dir / "chat.json") << R"([{"role": "user", "content": "Hello"}])";
  if (!fs::exists(dir / "models")) fs::create_directory_symlink(model.parent_path(), dir / "models");
  for (const std::string& line : lines) {
    std::string cmd = replace_all(line, "model.gguf", model.string());
    cmd = replace_all(cmd, "ternion ", std::string(TERNION_BINARY) + " ");
    const std::string shell = "cd " + dir.string() + " && (" + cmd + ") >out 2>err </dev/null";
    const int status = std::system(shell.c_str());
    EXPECT_EQ(status, 0) << line << "\n" << test::slurp(dir / "err");
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace ternion
