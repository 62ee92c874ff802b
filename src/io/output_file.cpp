#include "ternion/io/output_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>

#include "ternion/core/error.h"

namespace ternion {

namespace {

// The temporary files being written, for the signal handler. A signal handler can reach nothing but globals, so
// this is the one process-wide table of the library: fixed-size, no allocation, async-signal-safe to read.
constexpr int kSlots = 32;
constexpr size_t kPathMax = 4096;
enum SlotState : int { kFree = 0, kClaimed = 1, kActive = 2 };
struct TempSlot {
  std::atomic<int> state{kFree};
  char path[kPathMax];
};
std::array<TempSlot, kSlots> g_temp_files;
constexpr std::array<int, 3> kCleanupSignals = {SIGINT, SIGTERM, SIGHUP};
std::array<struct sigaction, 3> g_previous_actions;
std::once_flag g_handlers_installed;

void remove_temp_files_and_reraise(int sig) {
  for (TempSlot& s : g_temp_files) {
    if (s.state.load(std::memory_order_acquire) == kActive) ::unlink(s.path);
  }
  for (size_t i = 0; i < kCleanupSignals.size(); ++i) {
    if (kCleanupSignals[i] == sig) ::sigaction(sig, &g_previous_actions[i], nullptr);
  }
  ::raise(sig);  // delivered on return, with the disposition the program had before
}

void install_handlers() {
  for (size_t i = 0; i < kCleanupSignals.size(); ++i) {
    struct sigaction previous {};
    ::sigaction(kCleanupSignals[i], nullptr, &previous);
    g_previous_actions[i] = previous;
    if (previous.sa_handler == SIG_IGN) continue;  // e.g. SIGHUP under nohup: stays ignored
    if ((previous.sa_flags & SA_SIGINFO) == 0 && previous.sa_handler != SIG_DFL) continue;  // the program's own
    struct sigaction action {};
    action.sa_handler = remove_temp_files_and_reraise;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESETHAND;
    ::sigaction(kCleanupSignals[i], &action, nullptr);
  }
}

int register_temp_file(const std::string& path) {
  std::call_once(g_handlers_installed, install_handlers);
  if (path.size() >= kPathMax) throw Error(path + ": path too long");
  for (int i = 0; i < kSlots; ++i) {
    int expected = kFree;
    TempSlot& s = g_temp_files[static_cast<size_t>(i)];
    if (s.state.compare_exchange_strong(expected, kClaimed, std::memory_order_acq_rel)) {
      std::memcpy(s.path, path.c_str(), path.size() + 1);
      s.state.store(kActive, std::memory_order_release);
      return i;
    }
  }
  throw Error(path + ": too many files being written at once (at most " + std::to_string(kSlots) + ")");
}

void unregister_temp_file(int slot) {
  if (slot >= 0) g_temp_files[static_cast<size_t>(slot)].state.store(kFree, std::memory_order_release);
}

std::string errno_text(int err) { return std::strerror(err != 0 ? err : EIO); }

// The mode a new file gets from open(…, 0666): the process's umask applied. Read from /proc so that the umask
// is not changed, even for a moment, under other threads.
mode_t new_file_mode() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Umask:", 0) == 0) return static_cast<mode_t>(0666 & ~std::strtoul(line.c_str() + 6, nullptr, 8));
  }
  return 0644;
}

std::string folder_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string name_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool same_file(const struct stat& a, const struct stat& b) { return a.st_dev == b.st_dev && a.st_ino == b.st_ino; }

// Where a write to `path` should land: the file a symbolic link points to (so that the link stays a link), or
// `path` itself.
std::string resolve_target(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return path;
  char* real = ::realpath(path.c_str(), nullptr);
  if (real == nullptr) return path;  // a dangling link: replaced by the new file
  std::string out = real;
  std::free(real);
  return out;
}

// The test hook behind the catalogue's signal cases: with TERNION_TEST_HOLD_WRITE set, a writer stops after its
// first bytes, says so on stderr and waits up to a minute for a signal, so a test can interrupt it mid-write
// every time.
void hold_for_tests(const std::string& temp) {
  if (std::getenv("TERNION_TEST_HOLD_WRITE") == nullptr) return;
  std::fprintf(stderr, "ternion: holding the write of %s\n", temp.c_str());
  std::fflush(stderr);
  for (int i = 0; i < 600; ++i) ::usleep(100000);
}

}  // namespace

void check_output_is_not_an_input(const std::string& output, std::span<const std::string> inputs) {
  struct stat out {};
  if (::stat(output.c_str(), &out) != 0) return;  // a new file cannot be an input
  if (S_ISDIR(out.st_mode)) throw Error(output + ": is a folder; give the path of the file to write");
  for (const std::string& input : inputs) {
    struct stat in {};
    if (::stat(input.c_str(), &in) != 0) continue;
    if (same_file(in, out)) {
      throw Error(output + ": is the input file " + input + "; write the output to another path");
    }
    if (!S_ISDIR(in.st_mode)) continue;
    DIR* dir = ::opendir(input.c_str());
    if (dir == nullptr) continue;
    while (const dirent* e = ::readdir(dir)) {
      struct stat f {};
      const std::string file = input + "/" + e->d_name;
      if (::stat(file.c_str(), &f) == 0 && S_ISREG(f.st_mode) && same_file(f, out)) {
        ::closedir(dir);
        throw Error(output + ": is " + file + ", a file of the input folder; write the output to another path");
      }
    }
    ::closedir(dir);
  }
}

OutputFile::OutputFile(const std::string& path, std::span<const std::string> inputs)
    : path_(path), target_(resolve_target(path)) {
  if (path.empty()) throw Error("no output path given");
  check_output_is_not_an_input(path, inputs);
  struct stat existing {};
  const bool exists = ::stat(target_.c_str(), &existing) == 0;
  if (exists && !S_ISREG(existing.st_mode)) throw Error(path_ + ": exists and is not a regular file");
  std::string pattern = folder_of(target_) + "/." + name_of(target_) + ".ternion-XXXXXX";
  fd_ = ::mkostemp(pattern.data(), O_CLOEXEC);
  if (fd_ < 0) throw Error(path_ + ": cannot create a file in " + folder_of(target_) + ": " + errno_text(errno));
  temp_ = pattern;
  try {
    slot_ = register_temp_file(temp_);
  } catch (...) {
    discard();
    throw;
  }
  // The new file gets the old one's permissions, or those a plain create would give.
  ::fchmod(fd_, exists ? (existing.st_mode & 07777) : new_file_mode());
}

OutputFile::~OutputFile() { discard(); }

void OutputFile::discard() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (!temp_.empty()) ::unlink(temp_.c_str());
  temp_.clear();
  unregister_temp_file(slot_);
  slot_ = -1;
}

void OutputFile::write(std::span<const uint8_t> bytes) {
  if (fd_ < 0) throw Error(path_ + ": written after commit");
  const uint8_t* p = bytes.data();
  size_t left = bytes.size();
  while (left > 0) {
    const ssize_t n = ::write(fd_, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : ENOSPC;
      discard();
      throw Error(path_ + ": cannot write: " + errno_text(err));
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (!wrote_) {
    wrote_ = true;
    hold_for_tests(temp_);
  }
}

void OutputFile::commit() {
  if (fd_ < 0) throw Error(path_ + ": committed twice");
  if (::fsync(fd_) != 0 && errno != EINVAL) {
    const int err = errno;
    discard();
    throw Error(path_ + ": cannot write: " + errno_text(err));
  }
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) {
    const int err = errno;
    discard();
    throw Error(path_ + ": cannot write: " + errno_text(err));
  }
  if (::rename(temp_.c_str(), target_.c_str()) != 0) {
    const int err = errno;
    discard();
    throw Error(path_ + ": cannot create: " + errno_text(err));
  }
  temp_.clear();
  unregister_temp_file(slot_);
  slot_ = -1;
  // The rename itself reaches the disk with the folder.
  const int dir = ::open(folder_of(target_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

}  // namespace ternion
