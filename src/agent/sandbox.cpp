#include "ternion/agent/sandbox.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <system_error>

#include "ternion/core/error.h"

namespace ternion::agent {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

// The sandbox's PATH; the system is bound read-only at the same places, so a program found here on the host is
// the one the sandbox runs.
constexpr std::array<const char*, 3> kSandboxPath = {"/usr/local/bin", "/usr/bin", "/bin"};

std::string find_on_host_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    const size_t end = std::min(dirs.find(':', start), dirs.size());
    const std::string dir = dirs.substr(start, end - start);
    if (!dir.empty()) {
      const std::string candidate = dir + "/" + name;
      if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    start = end + 1;
  }
  return "";
}

// A pipe whose ends close on exec (the child moves the ends it keeps onto fixed numbers).
struct Pipe {
  int read = -1, write = -1;
  Pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw Error(std::string("sandbox: pipe: ") + std::strerror(errno));
    read = fds[0];
    write = fds[1];
  }
  ~Pipe() {
    close_read();
    close_write();
  }
  void close_read() {
    if (read >= 0) ::close(read);
    read = -1;
  }
  void close_write() {
    if (write >= 0) ::close(write);
    write = -1;
  }
};

// What the child needs, prepared before fork (after fork only async-signal-safe calls are allowed).
struct ChildSetup {
  std::vector<char*> argv, envp;
  std::array<rlimit, 4> limits{};
  std::array<int, 4> resources{RLIMIT_CPU, RLIMIT_AS, RLIMIT_FSIZE, RLIMIT_CORE};
  bool drop_root = false;
  int out_fd = -1, status_fd = -1;
};

// Ends the forked child with a reason on its output (what the parent reports when the sandbox does not start).
[[noreturn]] void child_fail(const char* why) {
  const ssize_t n = ::write(2, why, std::strlen(why));
  (void)n;
  ::_exit(126);
}

// The forked child: stdin from /dev/null, stdout and stderr into the output pipe, bwrap's status on fd 3, the
// limits set (bwrap and everything it starts inherit them), root dropped, then bwrap.
[[noreturn]] void exec_child(const ChildSetup& s) {
  ::setpgid(0, 0);
  const int null = ::open("/dev/null", O_RDONLY);
  if (null < 0 || ::dup2(null, 0) < 0 || ::dup2(s.out_fd, 1) < 0 || ::dup2(s.out_fd, 2) < 0 ||
      ::dup2(s.status_fd, 3) < 0) {
    ::_exit(126);
  }
  ::close_range(4, ~0U, 0);
  for (size_t i = 0; i < s.resources.size(); ++i) {
    if (::setrlimit(s.resources[i], &s.limits[i]) != 0) child_fail("cannot set the resource limits\n");
  }
  if (s.drop_root) {
    if (::setgroups(0, nullptr) != 0 || ::setgid(Sandbox::kNobody) != 0 || ::setuid(Sandbox::kNobody) != 0) {
      child_fail("cannot change from root to uid 65534\n");
    }
  }
  // Credentials changed, which clears the parent-death signal: set it now, so bwrap dies with us.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  ::execve(s.argv[0], s.argv.data(), s.envp.data());
  child_fail("cannot execute bwrap\n");
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Reads the output until EOF, the output cap or the deadline; kills the process group at a limit.
void collect_output(int fd, pid_t pid, Clock::time_point deadline, const SandboxLimits& limits, SandboxResult& r) {
  std::array<char, 16384> buf;
  for (;;) {
    // Past the deadline only when it is reached: whole milliseconds left are rounded up, so a stop never comes
    // early (truncated, the last fraction of a millisecond read as none left).
    const auto now = Clock::now();
    if (now >= deadline) {
      r.stopped_by = StopReason::kWallTime;
      break;
    }
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 100)));
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) continue;
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // EOF: every process of the sandbox closed the pipe
    const size_t room = limits.output_bytes - r.output.size();
    r.output.append(buf.data(), std::min(room, static_cast<size_t>(n)));
    if (static_cast<size_t>(n) > room) {
      r.stopped_by = StopReason::kOutput;
      break;
    }
  }
  ::kill(-pid, SIGKILL);
}

// Waits for bwrap until the deadline (a command may close its output and go on running), killing it then.
int wait_child(pid_t pid, Clock::time_point deadline, SandboxResult& r) {
  int status = 0;
  for (;;) {
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) return status;
    if (done < 0 && errno != EINTR) {  // ECHILD: SIGCHLD ignored by the program embedding us
      ::kill(-pid, SIGKILL);
      throw Error(std::string("sandbox: cannot wait for bwrap: ") + std::strerror(errno));
    }
    if (Clock::now() >= deadline && r.stopped_by == StopReason::kNone) {
      r.stopped_by = StopReason::kWallTime;
      ::kill(-pid, SIGKILL);
    }
    ::usleep(2000);
  }
}

// What is in the pipe now (never waits: bwrap wrote its status before it exited).
std::string read_available(int fd) {
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  std::string text;
  std::array<char, 4096> buf;
  ssize_t n;
  while ((n = ::read(fd, buf.data(), buf.size())) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0) text.append(buf.data(), static_cast<size_t>(n));
  }
  return text;
}

// bwrap's exit status is the command's, 128 + N when signal N ended it (as a shell reports it).
void read_status(int raw, SandboxResult& r) {
  if (r.stopped_by == StopReason::kWallTime || r.stopped_by == StopReason::kOutput) {
    r.signal = SIGKILL;
    return;
  }
  int code = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  if (!WIFEXITED(raw)) {
    r.signal = WTERMSIG(raw);
  } else if (code > 128 && code < 128 + 65) {
    r.signal = code - 128;
  } else {
    r.exited = true;
    r.exit_code = code;
  }
  if (r.signal == SIGXCPU) r.stopped_by = StopReason::kCpuTime;
  if (r.signal == SIGXFSZ) r.stopped_by = StopReason::kFileSize;
}

}  // namespace

void check_limits(const SandboxLimits& l) {
  const auto check = [](bool ok, const char* what) {
    if (!ok) throw Error(std::string("sandbox: ") + what);
  };
  check(l.wall_seconds > 0 && l.wall_seconds <= 86400, "the wall-time limit must be in (0, 86400] seconds");
  check(l.cpu_seconds >= 1 && l.cpu_seconds <= 86400, "the CPU-time limit must be 1 to 86400 seconds");
  check(l.memory_bytes >= (int64_t{16} << 20), "the memory limit must be at least 16 MiB");
  check(l.processes >= 1 && l.processes <= 100000, "the process limit must be 1 to 100000");
  check(l.file_bytes >= 1, "the file-size limit must be at least 1 byte");
  check(l.output_bytes >= 1 && l.output_bytes <= (size_t{1} << 30), "the output limit must be 1 byte to 1 GiB");
  check(l.scratch_bytes >= (int64_t{1} << 20), "the scratch-folder size must be at least 1 MiB");
}

std::string describe(const SandboxResult& r, const SandboxLimits& l) {
  char when[64];
  std::snprintf(when, sizeof when, " in %.2f s", r.seconds);
  const auto num = [](double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%g", v);
    return std::string(b);
  };
  switch (r.stopped_by) {
    case StopReason::kWallTime:
      return "killed: the wall-time limit of " + num(l.wall_seconds) + " s" + when;
    case StopReason::kOutput:
      return "killed: more output than the limit of " + std::to_string(l.output_bytes) + " bytes (truncated)" + when;
    case StopReason::kCpuTime:
      return "killed by SIGXCPU: the CPU-time limit of " + std::to_string(l.cpu_seconds) + " s" + when;
    case StopReason::kFileSize:
      return "killed by SIGXFSZ: the file-size limit of " + std::to_string(l.file_bytes) + " bytes" + when;
    case StopReason::kNone:
      break;
  }
  if (r.exited) return "exit status " + std::to_string(r.exit_code) + when;
  const char* name = ::sigabbrev_np(r.signal);
  return "killed by " + (name != nullptr ? "SIG" + std::string(name) : "signal " + std::to_string(r.signal)) + when;
}

ScratchDir::ScratchDir() {
  std::error_code ec;
  fs::path base = fs::temp_directory_path(ec);
  if (ec) base = "/tmp";
  std::string tmpl = (base / "ternion-sandbox-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) {
    throw Error("sandbox: cannot create a scratch folder under " + base.string() + ": " + std::strerror(errno));
  }
  path_ = tmpl;
  if (::geteuid() == 0 && ::chown(path_.c_str(), Sandbox::kNobody, Sandbox::kNobody) != 0) {
    const std::string why = std::strerror(errno);
    fs::remove_all(path_, ec);
    throw Error("sandbox: cannot give the scratch folder to the sandbox user: " + why);
  }
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

void ScratchDir::write_file(const std::string& name, const std::string& text) const {
  if (name.empty() || name.find('/') != std::string::npos) throw Error("sandbox: bad scratch file name " + name);
  const fs::path p = path_ / name;
  // A new file only, never through a link: an earlier command may have left one here pointing anywhere.
  const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) throw Error("sandbox: cannot create " + p.string() + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      throw Error("sandbox: cannot write " + p.string() + ": " + std::strerror(errno));
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
}

std::string find_sandbox_program(const std::string& name) {
  for (const char* dir : kSandboxPath) {
    const std::string candidate = std::string(dir) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

Sandbox::Sandbox() : bwrap_(find_on_host_path("bwrap")) {
  if (bwrap_.empty()) {
    throw Error(
        "the sandbox needs bwrap, which is not installed (Debian package bubblewrap: apt-get install "
        "bubblewrap)");
  }
  if (find_sandbox_program("prlimit").empty()) {
    throw Error("the sandbox needs /usr/bin/prlimit (Debian package util-linux)");
  }
}

std::vector<std::string> Sandbox::bwrap_args(const ScratchDir& scratch, const SandboxLimits& limits,
                                             ScratchMode mode) const {
  std::vector<std::string> a = {bwrap_,
                                "--unshare-user",
                                "--unshare-ipc",
                                "--unshare-pid",
                                "--unshare-net",
                                "--unshare-uts",
                                "--unshare-cgroup-try",
                                "--die-with-parent",
                                "--new-session",
                                "--ro-bind",
                                "/usr",
                                "/usr"};
  // Merged /usr (Debian 12) has these as links into /usr; older layouts have folders.
  for (const char* top : {"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"}) {
    std::error_code ec;
    if (fs::is_symlink(top, ec)) {
      a.insert(a.end(), {"--symlink", fs::read_symlink(top, ec).string(), top});
    } else if (fs::is_directory(top, ec)) {
      a.insert(a.end(), {"--ro-bind", top, top});
    }
  }
  a.insert(a.end(), {"--ro-bind", "/etc", "/etc", "--proc", "/proc", "--dev", "/dev"});
  if (mode == ScratchMode::kHostFolder) {
    a.insert(a.end(), {"--bind", scratch.path().string(), kScratch});
  } else {
    a.insert(a.end(), {"--size", std::to_string(limits.scratch_bytes), "--tmpfs", kScratch});
    // The folder's plain files only: a link an earlier command left must not show the sandbox anything else.
    std::error_code ec;
    for (const fs::directory_entry& e : fs::directory_iterator(scratch.path(), ec)) {
      if (!e.is_symlink(ec) && e.is_regular_file(ec)) {
        a.insert(a.end(), {"--ro-bind", e.path().string(), std::string(kScratch) + "/" + e.path().filename().string()});
      }
    }
  }
  a.insert(a.end(), {"--chdir", kScratch, "--remount-ro", "/dev", "--remount-ro", "/", "--json-status-fd", "3", "--"});
  // RLIMIT_NPROC counts a user's processes: set inside the new user namespace it counts the sandbox's only;
  // set before bwrap it would also cap the user's processes outside.
  const std::string nproc = std::to_string(limits.processes);
  a.insert(a.end(), {"/usr/bin/prlimit", "--nproc=" + nproc + ":" + nproc, "--"});
  return a;
}

SandboxResult Sandbox::run(const std::vector<std::string>& argv, const ScratchDir& scratch, const SandboxLimits& limits,
                           const std::vector<std::pair<std::string, std::string>>& env, ScratchMode mode) const {
  check_limits(limits);
  if (argv.empty()) throw Error("sandbox: no command to run");
  std::vector<std::string> args = bwrap_args(scratch, limits, mode);
  args.insert(args.end(), argv.begin(), argv.end());
  std::vector<std::string> vars = {"PATH=/usr/local/bin:/usr/bin:/bin", std::string("HOME=") + kScratch,
                                   std::string("TMPDIR=") + kScratch, "LANG=C.UTF-8"};
  for (const auto& [k, v] : env) vars.push_back(k + "=" + v);

  Pipe out, status;
  ChildSetup setup;
  setup.argv = c_strings(args);
  setup.envp = c_strings(vars);
  const auto cpu = static_cast<rlim_t>(limits.cpu_seconds);
  setup.limits = {rlimit{cpu, cpu + 1},
                  rlimit{static_cast<rlim_t>(limits.memory_bytes), static_cast<rlim_t>(limits.memory_bytes)},
                  rlimit{static_cast<rlim_t>(limits.file_bytes), static_cast<rlim_t>(limits.file_bytes)}, rlimit{0, 0}};
  setup.drop_root = ::geteuid() == 0;
  setup.out_fd = out.write;
  setup.status_fd = status.write;

  SandboxResult r;
  const auto t0 = Clock::now();
  const pid_t pid = ::fork();
  if (pid < 0) throw Error(std::string("sandbox: fork: ") + std::strerror(errno));
  if (pid == 0) exec_child(setup);
  ::setpgid(pid, pid);  // also here, so the kill below never misses the group
  out.close_write();
  status.close_write();
  const auto deadline =
      t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(limits.wall_seconds));
  collect_output(out.read, pid, deadline, limits, r);
  const int raw = wait_child(pid, deadline, r);
  r.seconds = seconds_since(t0);
  const std::string json_status = read_available(status.read);
  if (json_status.find("\"child-pid\"") == std::string::npos && r.stopped_by == StopReason::kNone) {
    const std::string why = r.output.substr(0, r.output.find('\n'));
    throw Error("the sandbox (bwrap) could not start: " + (why.empty() ? std::string("no reason given") : why));
  }
  read_status(raw, r);
  return r;
}

bool Sandbox::available(std::string* why) {
  try {
    const Sandbox sandbox;
    const ScratchDir scratch;
    SandboxLimits limits;
    limits.wall_seconds = 30;
    const SandboxResult r = sandbox.run({"/bin/true"}, scratch, limits);
    if (r.ok()) return true;
    if (why != nullptr) *why = "bwrap ran /bin/true: " + describe(r, limits);
  } catch (const Error& e) {
    if (why != nullptr) *why = e.what();
  }
  return false;
}

}  // namespace ternion::agent
