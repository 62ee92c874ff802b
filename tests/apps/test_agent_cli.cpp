// `ternion exec` with hostile code, its confirmation, and `ternion agent` / `run --execute` end to end with a fixture
// model (which writes no working code: the loop must end cleanly and say why).
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "agent/sandbox_support.h"
#include "apps/cli_runner.h"
#include "support/test_support.h"

namespace ternion {
namespace {

namespace fs = std::filesystem;
using test::expect_one_line_error;
using test::run_cli;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::string write_md(const std::string& name, const std::string& text) {
  const fs::path p = test::cli_scratch_dir() / name;
  std::ofstream(p, std::ios::binary) << text;
  return p.string();
}

constexpr const char* kLimits = " --timeout 2 --cpu 1 --memory 256M --processes 16 --max-output 4K";

TEST(ExecCli, ContainsHostileCode) {
  TERNION_REQUIRE_SANDBOX();
  TERNION_REQUIRE_SANDBOX_PROGRAM("python3");
  TERNION_REQUIRE_SANDBOX_PROGRAM("gcc");
  const char* home = std::getenv("HOME");
  const std::string md = write_md(
      "hostile.md",
      "Network:\n```python\nimport socket\nsocket.create_connection(('1.1.1.1', 80), timeout=1)\n```\n"
      "Outside the scratch folder:\n```sh\necho x > /etc/ternion-probe && echo wrote\n```\n"
      "Home:\n```sh\nls " +
          std::string(home != nullptr ? home : "/root") +
          " && echo home visible\n```\n"
          "Fork bomb:\n```sh\nbomb() { bomb | bomb & }; bomb; wait\n```\n"
          "Loop:\n```c\nint main(void) { for (;;) {} }\n```\n"
          "Output:\n```bash\nyes\n```\n"
          "Memory:\n```c\n#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n"
          "int main(void) { size_t n = (size_t)10 << 30; char* p = malloc(n);\n"
          "  if (!p) { puts(\"allocation failed\"); return 2; }\n  memset(p, 1, n); puts(\"allocated\"); }\n```\n");
  const auto t0 = std::chrono::steady_clock::now();
  const test::Outcome o = run_cli("exec --yes " + md + kLimits);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(o.code, 1) << o.err;
  EXPECT_TRUE(o.err.empty()) << o.err;
  EXPECT_TRUE(contains(o.out, "block 1 (python): exit status 1")) << o.out;
  EXPECT_TRUE(contains(o.out, "Network is unreachable")) << o.out;
  EXPECT_TRUE(contains(o.out, "block 2 (sh): exit status 2")) << o.out;
  EXPECT_TRUE(contains(o.out, "Read-only file system")) << o.out;
  EXPECT_FALSE(contains(o.out, "wrote")) << o.out;
  EXPECT_FALSE(fs::exists("/etc/ternion-probe"));
  EXPECT_TRUE(contains(o.out, "block 3 (sh): exit status")) << o.out;
  EXPECT_FALSE(contains(o.out, "home visible")) << o.out;
  EXPECT_TRUE(contains(o.out, "block 4 (sh): ")) << o.out;
  EXPECT_TRUE(contains(o.out, "block 5 (c): compiled in ")) << o.out;
  // The CPU limit, or on a busy machine (1 CPU second not had in 2) the wall-time limit.
  EXPECT_TRUE(contains(o.out, "killed by SIGXCPU: the CPU-time limit of 1 s") ||
              contains(o.out, "then killed: the wall-time limit of 2 s"))
      << o.out;
  EXPECT_TRUE(contains(o.out, "block 6 (bash): killed: more output than the limit of 4096 bytes (truncated)")) << o.out;
  EXPECT_TRUE(contains(o.out, "block 7 (c): compiled in ")) << o.out;
  EXPECT_TRUE(contains(o.out, "exit status 2 in ")) << o.out;
  EXPECT_TRUE(contains(o.out, "allocation failed")) << o.out;
  EXPECT_LT(seconds, 30.0);
}

TEST(ExecCli, SucceedsWhenEveryBlockDoes) {
  TERNION_REQUIRE_SANDBOX();
  TERNION_REQUIRE_SANDBOX_PROGRAM("python3");
  const std::string md = write_md("ok.md", "```sh\necho one\n```\ntext\n```python\nprint('two')\n```\n");
  const test::Outcome o = run_cli("exec -y " + md);
  EXPECT_EQ(o.code, 0) << o.err;
  EXPECT_TRUE(contains(o.out, "block 1 (sh): exit status 0 in ")) << o.out;
  EXPECT_TRUE(contains(o.out, "```\none\n```\n")) << o.out;
  EXPECT_TRUE(contains(o.out, "block 2 (python): exit status 0 in ")) << o.out;
  EXPECT_TRUE(contains(o.out, "```\ntwo\n```\n")) << o.out;
}

TEST(ExecCli, ErrorsAreOneLine) {
  const std::string md = write_md("plain.md", "```sh\necho hi\n```\n");
  expect_one_line_error(run_cli("exec " + md), "standard input is not a terminal to ask on (pass --yes)");
  expect_one_line_error(run_cli("exec -y " + write_md("none.md", "no code\n```text\nx\n```\n")),
                        "no fenced code block in a language we run (c, c++, rust, python");
  expect_one_line_error(run_cli("exec -y " + md + " --memory 12Q"), "--memory: expected a size such as 512M");
  expect_one_line_error(run_cli("exec -y " + md + " --timeout 0"), "the wall-time limit");
  expect_one_line_error(run_cli("exec -y " + md + " --max-output 0"), "--max-output: expected a size");
  expect_one_line_error(run_cli("exec -y /nonexistent/reply.md"), "/nonexistent/reply.md");
}

// Runs `exec` on a pseudo-terminal and answers its question with `answer`; returns what the terminal showed.
std::string exec_on_terminal(const std::string& md, const std::string& answer) {
  int fd = -1;
  const pid_t pid = ::forkpty(&fd, nullptr, nullptr, nullptr);
  if (pid == 0) {
    ::execl(TERNION_BINARY, TERNION_BINARY, "exec", md.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  std::string screen;
  bool answered = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    if (!answered && contains(screen, "[y/N] ")) {
      const std::string line = answer + "\n";
      EXPECT_EQ(::write(fd, line.data(), line.size()), static_cast<ssize_t>(line.size()));
      answered = true;
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[4096];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;  // EIO: the program ended
    screen.append(buf, static_cast<size_t>(n));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  ::close(fd);
  return screen;
}

TEST(ExecCli, AsksOnTheTerminalBeforeRunning) {
  TERNION_REQUIRE_SANDBOX();
  const std::string md = write_md("ask.md", "```sh\necho ran it\n```\n");
  const std::string no = exec_on_terminal(md, "n");
  EXPECT_TRUE(contains(no, "Run 1 code block in the sandbox: sh (line 1)? [y/N] ")) << no;
  EXPECT_TRUE(contains(no, "nothing run")) << no;
  EXPECT_FALSE(contains(no, "ran it")) << no;
  const std::string yes = exec_on_terminal(md, "y");
  EXPECT_TRUE(contains(yes, "ran it")) << yes;
}

// The template supports tools, so the prompt carries the run_code tool's description: more than the fixture's
// trained context of 512 tokens in its small vocabulary, hence -c 2048.
std::string agent_flags() {
  return "-m " + test::fixture("gguf/kjv-qwen2-F16.gguf").string() + " --template " +
         test::fixture("templates/Qwen-Qwen2.5-7B-Instruct.jinja").string() + " --temp 0 -n 48 -c 2048";
}

// The loop ended cleanly: status 1 and, last on stderr, why.
void expect_clean_end(const test::Outcome& o, int max_rounds) {
  EXPECT_EQ(o.code, 1) << o.err;
  const size_t at = o.err.rfind("agent: ");
  ASSERT_NE(at, std::string::npos) << o.err;
  const std::string reason = o.err.substr(at);
  EXPECT_TRUE(contains(reason, "has no code block in a language we run") ||
              contains(reason, "still failed after " + std::to_string(max_rounds) + " rounds"))
      << reason;
  EXPECT_TRUE(contains(o.err, "(round 1 of " + std::to_string(max_rounds) + ": reply above)")) << o.err;
  EXPECT_FALSE(o.out.empty());
}

TEST(AgentCli, EndsCleanlyWithAModelThatWritesNoCode) {
  TERNION_REQUIRE_SANDBOX();
  TERNION_REQUIRE_FIXTURE(test::fixture("gguf/kjv-qwen2-F16.gguf"));
  expect_clean_end(run_cli("agent " + agent_flags() + " --yes --max-rounds 2 'Print the first verse of Genesis.'"), 2);
  expect_clean_end(run_cli("run " + agent_flags() + " --execute --yes --max-rounds 2 -p 'Write hello world.'"), 2);
}

TEST(AgentCli, ErrorsAreOneLine) {
  const std::string model = "-m " + test::fixture("gguf/kjv-qwen2-F16.gguf").string();
  expect_one_line_error(run_cli("agent " + model + " 'task'"), "standard input is not a terminal");
  expect_one_line_error(run_cli("agent " + model + " -y --max-rounds 0 'task'"), "--max-rounds must be 1 to 100");
  expect_one_line_error(run_cli("agent " + model + " -y --memory 1K 'task'"), "the memory limit must be at least");
  expect_one_line_error(run_cli("run " + model + " --execute -p 'task'"), "standard input is not a terminal");
}

}  // namespace
}  // namespace ternion
