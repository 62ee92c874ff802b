// Runs untrusted commands (code a model wrote) in a bubblewrap sandbox (Debian's `bubblewrap`): no network, the
// system read-only, a fresh scratch folder (or a size-limited tmpfs) as the only writable place, no home and no
// project, as an unprivileged user, under limits on CPU time, wall time, memory, processes, file size and output.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace ternion::agent {

struct SandboxLimits {
  double wall_seconds = 10.0;                 // enforced by the parent: the whole sandbox is killed
  int64_t cpu_seconds = 10;                   // RLIMIT_CPU, per process (SIGXCPU)
  int64_t memory_bytes = int64_t{1} << 30;    // RLIMIT_AS, per process (allocations fail)
  int64_t processes = 64;                     // RLIMIT_NPROC, counted inside the sandbox (fork fails)
  int64_t file_bytes = int64_t{64} << 20;     // RLIMIT_FSIZE (SIGXFSZ)
  size_t output_bytes = size_t{64} << 10;     // stdout and stderr kept; one byte more kills the sandbox
  int64_t scratch_bytes = int64_t{64} << 20;  // size of an in-memory scratch folder (writes fail beyond it)
};

// Where the command writes. A compiler writes into the host folder (its output is the next command's input); the
// program itself gets a size-limited tmpfs holding read-only copies of the folder's files, so it can neither fill
// the host's disk nor leave anything behind.
enum class ScratchMode { kHostFolder, kInMemory };

// Checks each limit (positive, and small enough to mean something); Error naming the limit otherwise.
void check_limits(const SandboxLimits& limits);

// Which limit ended a command, when one did. Memory and process limits make calls fail inside the sandbox
// (allocation, fork) instead of stopping it, so they show in the command's own output and exit status.
enum class StopReason { kNone, kWallTime, kCpuTime, kOutput, kFileSize };

struct SandboxResult {
  std::string output;  // stdout and stderr as they came, at most output_bytes
  bool exited = false;
  int exit_code = -1;  // when exited
  int signal = 0;      // the signal that ended it, when not exited
  double seconds = 0;  // wall time
  StopReason stopped_by = StopReason::kNone;

  bool ok() const { return exited && exit_code == 0 && stopped_by == StopReason::kNone; }
};

// One line for a person (and the model): "exit status 0 in 0.12 s", "killed by SIGXCPU: the CPU time limit of
// 2 s in 2.01 s", ...
std::string describe(const SandboxResult& r, const SandboxLimits& limits);

// A fresh private folder under the temporary directory (owned by the sandbox's user when we are root), the
// sandbox's only writable place; removed with everything in it on destruction.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // Writes `name` (a plain file name) with `text`, readable by the sandbox.
  void write_file(const std::string& name, const std::string& text) const;

 private:
  std::filesystem::path path_;
};

class Sandbox {
 public:
  // Where the scratch folder appears inside the sandbox (also its working directory, HOME and TMPDIR).
  static constexpr const char* kScratch = "/scratch";
  // The user the command runs as when we are root: RLIMIT_NPROC does not hold root (nor a user namespace
  // mapped to root), so a fork bomb would not be contained.
  static constexpr unsigned kNobody = 65534;

  // Finds bwrap on PATH; Error naming the Debian package when it is missing.
  Sandbox();

  // Runs `argv` (argv[0] a path or a name on the sandbox's PATH) in `scratch` with `env` added to the sandbox's
  // own environment. Throws Error when the sandbox itself cannot start (no user namespaces), with bwrap's reason.
  SandboxResult run(const std::vector<std::string>& argv, const ScratchDir& scratch, const SandboxLimits& limits,
                    const std::vector<std::pair<std::string, std::string>>& env = {},
                    ScratchMode mode = ScratchMode::kInMemory) const;

  // True when a sandbox starts here (bwrap installed and namespaces allowed); `why` gets the reason otherwise.
  static bool available(std::string* why = nullptr);

 private:
  std::vector<std::string> bwrap_args(const ScratchDir& scratch, const SandboxLimits& limits, ScratchMode mode) const;

  std::string bwrap_;
};

// The program `name` as the sandbox sees it (its PATH: /usr/local/bin, /usr/bin, /bin), or "" when absent.
std::string find_sandbox_program(const std::string& name);

}  // namespace ternion::agent
