// Hostile code in the sandbox: each attempt is contained, reported, and leaves this process and the machine as
// they were.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "agent/sandbox_support.h"
#include "ternion/agent/runner.h"
#include "ternion/agent/sandbox.h"
#include "ternion/core/error.h"

namespace ternion::agent {
namespace {

namespace fs = std::filesystem;
using test::short_limits;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

SandboxResult run_sh(const std::string& script, const SandboxLimits& limits = short_limits()) {
  const Sandbox sandbox;
  const ScratchDir scratch;
  scratch.write_file("main.sh", script);
  return sandbox.run({"sh", "main.sh"}, scratch, limits);
}

// Compiles `source` (C) under the compile limits, then runs it under `limits`.
BlockRun run_c(const std::string& source, const SandboxLimits& limits) {
  RunnerOptions options;
  options.run = limits;
  CodeBlock block{"c", find_language("c"), source, 1};
  return run_block(Sandbox(), block, options);
}

TEST(Sandbox, RunsACommandAndReportsItsExitStatus) {
  TERNION_REQUIRE_SANDBOX();
  const SandboxResult r = run_sh("echo hello; echo oops >&2; pwd; id -u; exit 3");
  EXPECT_TRUE(r.exited);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.output, "hello\noops\n/scratch\n" + std::to_string(Sandbox::kNobody) + "\n");
  EXPECT_EQ(describe(r, short_limits()).rfind("exit status 3 in ", 0), 0u);
  EXPECT_LT(r.seconds, 2.0);
}

TEST(Sandbox, ReportsTheSignalThatEndedACommand) {
  TERNION_REQUIRE_SANDBOX();
  const SandboxResult r = run_sh("kill -SEGV $$");
  EXPECT_FALSE(r.exited);
  EXPECT_EQ(r.signal, SIGSEGV);
  EXPECT_EQ(r.stopped_by, StopReason::kNone);
  EXPECT_EQ(describe(r, short_limits()).rfind("killed by SIGSEGV in ", 0), 0u);
}

TEST(Sandbox, HasNoNetwork) {
  TERNION_REQUIRE_SANDBOX();
  TERNION_REQUIRE_SANDBOX_PROGRAM("python3");
  const Sandbox sandbox;
  const ScratchDir scratch;
  scratch.write_file("net.py",
                     "import socket\n"
                     "print(sorted(n for _, n in socket.if_nameindex()))\n"
                     "s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n"
                     "s.settimeout(1)\n"
                     "s.connect(('1.1.1.1', 80))\n"
                     "print('connected')\n");
  SandboxLimits limits = short_limits();
  limits.memory_bytes = int64_t{512} << 20;
  const SandboxResult r = sandbox.run({"python3", "net.py"}, scratch, limits);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "['lo']")) << r.output;  // the loopback device only, and it is down
  EXPECT_TRUE(contains(r.output, "Network is unreachable")) << r.output;
  EXPECT_FALSE(contains(r.output, "connected\n")) << r.output;
}

TEST(Sandbox, WritesNowhereButTheScratchFolder) {
  TERNION_REQUIRE_SANDBOX();
  const fs::path outside = fs::temp_directory_path() / ("ternion_sandbox_probe_" + std::to_string(::getpid()));
  fs::create_directories(outside);
  ::chmod(outside.c_str(), 0777);  // writable by anyone: only the sandbox keeps it out
  const SandboxResult r = run_sh("for f in /etc/probe /usr/probe /probe /dev/probe /dev/shm/probe " + outside.string() +
                                 "/probe; do echo x > $f && echo wrote $f; done\n"
                                 "echo y > /scratch/mine && cat /scratch/mine\n");
  EXPECT_FALSE(contains(r.output, "wrote")) << r.output;
  EXPECT_TRUE(contains(r.output, "Read-only file system")) << r.output;
  EXPECT_TRUE(contains(r.output, "y\n")) << r.output;
  EXPECT_FALSE(fs::exists(outside / "probe"));
  EXPECT_FALSE(fs::exists("/etc/probe"));
  fs::remove_all(outside);
}

TEST(Sandbox, SeesNeitherHomeNorTheProject) {
  TERNION_REQUIRE_SANDBOX();
  const char* home = std::getenv("HOME");
  const std::string home_dir = home != nullptr && *home != '\0' ? home : "/root";
  const SandboxResult r = run_sh("ls -a " + home_dir + " && echo home visible\nls " + TERNION_SOURCE_DIR +
                                 " && echo project visible\necho HOME=$HOME\n");
  EXPECT_FALSE(contains(r.output, "visible")) << r.output;
  EXPECT_TRUE(contains(r.output, "No such file or directory")) << r.output;
  EXPECT_TRUE(contains(r.output, "HOME=/scratch")) << r.output;
}

TEST(Sandbox, ContainsAForkBombByTheProcessLimit) {
  TERNION_REQUIRE_SANDBOX();
  TERNION_REQUIRE_SANDBOX_PROGRAM("gcc");
  const BlockRun r = run_c(
      "#include <stdio.h>\n#include <unistd.h>\n"
      "int main(void) {\n"
      "  for (int n = 0;; ++n) {\n"
      "    pid_t p = fork();\n"
      "    if (p < 0) { printf(\"fork failed after %d\\n\", n); return 3; }\n"
      "    if (p == 0) { pause(); _exit(0); }\n"
      "  }\n"
      "}\n",
      short_limits());
  ASSERT_TRUE(r.missing.empty()) << r.missing;
  ASSERT_TRUE(r.run) << r.compile->output;
  EXPECT_EQ(r.run->exit_code, 3) << r.run->output;
  int forked = -1;
  ASSERT_EQ(std::sscanf(r.run->output.c_str(), "fork failed after %d", &forked), 1) << r.run->output;
  EXPECT_GE(forked, 1);
  EXPECT_LT(forked, short_limits().processes);
}

TEST(Sandbox, ContainsAShellForkBomb) {
  TERNION_REQUIRE_SANDBOX();
  const SandboxResult r = run_sh("bomb() { bomb | bomb & }; bomb; wait; sleep 5");
  EXPECT_FALSE(r.ok());
  EXPECT_LT(r.seconds, short_limits().wall_seconds + 1.0);
  // The machine still starts processes, and the sandbox still works.
  EXPECT_EQ(run_sh("echo alive").output, "alive\n");
}

TEST(Sandbox, StopsAnInfiniteLoopByTheCpuLimit) {
  TERNION_REQUIRE_SANDBOX();
  SandboxLimits limits = short_limits();
  limits.wall_seconds = 5.0;
  const SandboxResult r = run_sh("while :; do :; done", limits);
  EXPECT_EQ(r.stopped_by, StopReason::kCpuTime) << describe(r, limits);
  EXPECT_EQ(r.signal, SIGXCPU);
  EXPECT_LT(r.seconds, 4.0);
  EXPECT_EQ(describe(r, limits).rfind("killed by SIGXCPU: the CPU-time limit of 1 s", 0), 0u);
}

TEST(Sandbox, StopsAnIdleCommandByTheWallLimit) {
  TERNION_REQUIRE_SANDBOX();
  SandboxLimits limits = short_limits();
  limits.wall_seconds = 0.5;
  // Output closed first: the wait for the program must still end at the deadline.
  const SandboxResult r = run_sh("exec >&- 2>&-; sleep 30 & sleep 30", limits);
  EXPECT_EQ(r.stopped_by, StopReason::kWallTime);
  EXPECT_GE(r.seconds, 0.5);
  EXPECT_LT(r.seconds, 1.5);
  EXPECT_EQ(describe(r, limits).rfind("killed: the wall-time limit of 0.5 s", 0), 0u);
}

TEST(Sandbox, TruncatesUnboundedOutputAtTheCap) {
  TERNION_REQUIRE_SANDBOX();
  const SandboxResult r = run_sh("yes 'all work and no play'");
  EXPECT_EQ(r.stopped_by, StopReason::kOutput);
  EXPECT_EQ(r.output.size(), short_limits().output_bytes);
  EXPECT_EQ(r.output.rfind("all work and no play\n", 0), 0u);
  EXPECT_LT(r.seconds, 1.5);
  EXPECT_TRUE(contains(describe(r, short_limits()), "more output than the limit of 4096 bytes (truncated)"));
}

TEST(Sandbox, FailsATenGigabyteAllocation) {
  TERNION_REQUIRE_SANDBOX();
  TERNION_REQUIRE_SANDBOX_PROGRAM("gcc");
  const BlockRun r = run_c(
      "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n"
      "int main(void) {\n"
      "  size_t n = (size_t)10 << 30;\n"
      "  char* p = malloc(n);\n"
      "  if (!p) { puts(\"allocation failed\"); return 2; }\n"
      "  memset(p, 1, n);\n"
      "  puts(\"allocated\");\n"
      "}\n",
      short_limits());
  ASSERT_TRUE(r.run) << (r.compile ? r.compile->output : r.missing);
  EXPECT_EQ(r.run->output, "allocation failed\n");
  EXPECT_EQ(r.run->exit_code, 2);
}

TEST(Sandbox, StopsAFileBeyondTheSizeLimit) {
  TERNION_REQUIRE_SANDBOX();
  const SandboxResult r = run_sh("exec head -c 4000000 /dev/zero > big");
  EXPECT_EQ(r.stopped_by, StopReason::kFileSize) << r.output;
  EXPECT_EQ(r.signal, SIGXFSZ);
}

// The program's scratch folder is memory of a fixed size: writing past it fails, and nothing reaches the host.
TEST(Sandbox, BoundsTheProgramsScratchFolder) {
  TERNION_REQUIRE_SANDBOX();
  const Sandbox sandbox;
  const ScratchDir scratch;
  scratch.write_file("main.sh",
                     "for i in 1 2 3 4; do head -c 900000 /dev/zero > f$i || echo full at $i; done\n"
                     "echo changed > main.sh || echo source read-only\n");
  SandboxLimits limits = short_limits();
  limits.scratch_bytes = int64_t{2} << 20;
  const SandboxResult r = sandbox.run({"sh", "main.sh"}, scratch, limits);
  EXPECT_TRUE(contains(r.output, "No space left on device")) << r.output;
  EXPECT_TRUE(contains(r.output, "full at 3")) << r.output;
  EXPECT_FALSE(contains(r.output, "full at 2")) << r.output;
  EXPECT_TRUE(contains(r.output, "source read-only")) << r.output;
  EXPECT_FALSE(fs::exists(scratch.path() / "f1"));
  // A link left in the folder is not shown to the program.
  sandbox.run({"ln", "-s", "/etc/hostname", "link"}, scratch, short_limits(), {}, ScratchMode::kHostFolder);
  EXPECT_TRUE(fs::is_symlink(scratch.path() / "link"));
  EXPECT_EQ(sandbox.run({"sh", "-c", "ls /scratch"}, scratch, short_limits()).output, "main.sh\n");
}

TEST(Sandbox, RemovesItsScratchFolder) {
  TERNION_REQUIRE_SANDBOX();
  fs::path where;
  {
    const Sandbox sandbox;
    const ScratchDir scratch;
    where = scratch.path();
    const SandboxResult r = sandbox.run({"sh", "-c", "mkdir -p a/b && echo x > a/b/c && chmod 0 a/b && echo done"},
                                        scratch, short_limits(), {}, ScratchMode::kHostFolder);
    EXPECT_EQ(r.output, "done\n");
    EXPECT_TRUE(fs::exists(where / "a"));
  }
  EXPECT_FALSE(fs::exists(where));
}

TEST(Sandbox, ScratchFilesAreNeverWrittenThroughALink) {
  TERNION_REQUIRE_SANDBOX();
  const Sandbox sandbox;
  const ScratchDir scratch;
  sandbox.run({"ln", "-s", "/etc/passwd", "main.c"}, scratch, short_limits(), {}, ScratchMode::kHostFolder);
  EXPECT_THROW(scratch.write_file("main.c", "int main;"), Error);
  EXPECT_THROW(scratch.write_file("../x", "nope"), Error);
}

TEST(Sandbox, RejectsBadLimitsAndCommands) {
  TERNION_REQUIRE_SANDBOX();
  const Sandbox sandbox;
  const ScratchDir scratch;
  SandboxLimits limits;
  EXPECT_THROW(sandbox.run({}, scratch, limits), Error);
  for (auto change : {+[](SandboxLimits& l) { l.wall_seconds = 0; }, +[](SandboxLimits& l) { l.cpu_seconds = 0; },
                      +[](SandboxLimits& l) { l.memory_bytes = 1000; }, +[](SandboxLimits& l) { l.processes = 0; },
                      +[](SandboxLimits& l) { l.file_bytes = 0; }, +[](SandboxLimits& l) { l.output_bytes = 0; },
                      +[](SandboxLimits& l) { l.scratch_bytes = 1000; }}) {
    SandboxLimits bad;
    change(bad);
    EXPECT_THROW(check_limits(bad), Error);
  }
  EXPECT_NO_THROW(check_limits(limits));
}

TEST(Sandbox, NamesTheDebianPackageWhenBwrapIsMissing) {
  const char* path = std::getenv("PATH");
  const std::string saved = path != nullptr ? path : "";
  ::setenv("PATH", "/nonexistent", 1);
  try {
    const Sandbox sandbox;
    ADD_FAILURE() << "no error without bwrap";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), "Debian package bubblewrap")) << e.what();
  }
  ::setenv("PATH", saved.c_str(), 1);
}

// A bwrap that cannot create namespaces (as in a container without them): one error with its reason, and the
// check the tests skip by says so.
TEST(Sandbox, SaysWhyItCouldNotStart) {
  const fs::path dir = fs::temp_directory_path() / ("ternion_fake_bwrap_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  {
    std::ofstream script(dir / "bwrap");
    script << "#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n";
  }
  fs::permissions(dir, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec | fs::perms::others_read |
                           fs::perms::others_exec);
  fs::permissions(dir / "bwrap", fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                     fs::perms::others_read | fs::perms::others_exec);
  const char* path = std::getenv("PATH");
  const std::string saved = path != nullptr ? path : "";
  ::setenv("PATH", (dir.string() + ":" + saved).c_str(), 1);
  std::string why;
  EXPECT_FALSE(Sandbox::available(&why));
  try {
    const Sandbox sandbox;
    const ScratchDir scratch;
    sandbox.run({"true"}, scratch, short_limits());
    ADD_FAILURE() << "no error from a sandbox that did not start";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "the sandbox (bwrap) could not start: bwrap: No permissions to create new namespace");
  }
  ::setenv("PATH", saved.c_str(), 1);
  fs::remove_all(dir);
  EXPECT_TRUE(contains(why, "No permissions to create new namespace")) << why;
}

}  // namespace
}  // namespace ternion::agent
