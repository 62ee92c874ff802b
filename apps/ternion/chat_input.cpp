#include "chat_input.h"

#include <editline/readline.h>
#include <poll.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <utility>

namespace ternion::cli {

namespace {

// A signal handler can reach nothing but globals: this flag is the chat's one piece of process-wide state.
std::atomic<bool> g_interrupted{false};
static_assert(std::atomic<bool>::is_always_lock_free);

extern "C" void on_sigint(int /*sig*/) { g_interrupted.store(true, std::memory_order_relaxed); }

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// libedit's reader: Ctrl-C ends the line (EOF) instead of the read being retried, so readline() returns at once
// and the chat clears the line. The flag is checked between short waits: a signal that lands just before a
// blocking read() would otherwise go unseen until the next key.
int read_char(FILE* in) {
  const int fd = ::fileno(in);
  for (;;) {
    if (interrupt_pending()) return EOF;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;  // timeout, or EINTR: look at the flag again
    unsigned char c = 0;
    const ssize_t n = ::read(fd, &c, 1);
    if (n == 1) return c;
    if (n < 0 && errno == EINTR) continue;
    return EOF;
  }
}

constexpr const char* kPrompt = ">>> ";
constexpr const char* kContinue = "... ";

}  // namespace

void install_interrupt_handler() {
  struct sigaction action {};
  action.sa_handler = on_sigint;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;  // no SA_RESTART: a read at the prompt returns, so Ctrl-C clears the line
  ::sigaction(SIGINT, &action, nullptr);
}

bool take_interrupt() { return g_interrupted.exchange(false, std::memory_order_relaxed); }
bool interrupt_pending() { return g_interrupted.load(std::memory_order_relaxed); }

KeepOutputOnInterrupt::KeepOutputOnInterrupt() {
  termios t{};
  if (::isatty(STDIN_FILENO) != 1 || ::tcgetattr(STDIN_FILENO, &t) != 0) return;
  saved_lflag_ = t.c_lflag;
  t.c_lflag |= NOFLSH;
  changed_ = ::tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0;
}

KeepOutputOnInterrupt::~KeepOutputOnInterrupt() {
  termios t{};
  if (!changed_ || ::tcgetattr(STDIN_FILENO, &t) != 0) return;
  t.c_lflag = (t.c_lflag & ~tcflag_t{NOFLSH}) | (saved_lflag_ & NOFLSH);
  ::tcsetattr(STDIN_FILENO, TCSANOW, &t);
}

// Lines of history kept in the file.
constexpr int kHistoryLines = 1000;

LineReader::LineReader(bool terminal, std::string history_file)
    : terminal_(terminal), history_file_(terminal ? std::move(history_file) : "") {
  if (terminal_) {
    rl_readline_name = "ternion";
    rl_getc_function = read_char;
    using_history();
    stifle_history(kHistoryLines);
    if (!history_file_.empty()) read_history(history_file_.c_str());  // none yet is fine
  }
}

LineReader::~LineReader() {
  if (!terminal_) return;
  if (!history_file_.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(history_file_).parent_path(), ec);
    const mode_t old_mask = ::umask(077);  // what was typed is the user's alone
    write_history(history_file_.c_str());
    ::umask(old_mask);
  }
  clear_history();
}

std::string chat_history_file() {
  const char* state = std::getenv("XDG_STATE_HOME");
  if (state != nullptr && *state != '\0') return std::string(state) + "/ternion/history";
  const char* home = std::getenv("HOME");
  if (home != nullptr && *home != '\0') return std::string(home) + "/.ternion_history";
  return "";
}

ReadStatus LineReader::read(const char* prompt, std::string& line) {
  line.clear();
  if (terminal_) {
    char* got = readline(prompt);
    if (got == nullptr) {
      if (!take_interrupt()) return ReadStatus::kEnd;
      ::tcflush(STDIN_FILENO, TCIFLUSH);  // what was typed of the line and not yet read goes too
      std::fputs("\n", stdout);
      std::fflush(stdout);
      return ReadStatus::kInterrupted;
    }
    line = got;
    std::free(got);
    if (take_interrupt()) return ReadStatus::kInterrupted;
    if (!line.empty()) add_history(line.c_str());
    return ReadStatus::kLine;
  }
  char* buf = nullptr;
  size_t cap = 0;
  const ssize_t n = ::getline(&buf, &cap, stdin);
  if (n >= 0) line.assign(buf, static_cast<size_t>(n));
  std::free(buf);
  if (n < 0) {
    if (!take_interrupt()) return ReadStatus::kEnd;
    std::clearerr(stdin);
    return ReadStatus::kInterrupted;
  }
  if (ends_with(line, "\n")) line.pop_back();
  if (ends_with(line, "\r")) line.pop_back();
  return ReadStatus::kLine;
}

ReadStatus read_message(LineReader& reader, std::string& message) {
  message.clear();
  std::string line;
  ReadStatus st = reader.read(kPrompt, line);
  if (st != ReadStatus::kLine) return st;
  if (line.rfind("\"\"\"", 0) == 0) {
    std::string rest = line.substr(3);
    if (ends_with(rest, "\"\"\"")) {
      message = rest.substr(0, rest.size() - 3);
      return ReadStatus::kLine;
    }
    message = rest;
    bool first = rest.empty();  // an opening line of its own adds no empty first line
    for (;;) {
      st = reader.read(kContinue, line);
      if (st != ReadStatus::kLine) return st;
      const bool last = ends_with(line, "\"\"\"");
      if (last) line.resize(line.size() - 3);
      if (last && line.empty()) return ReadStatus::kLine;  // a closing line of its own adds no empty last line
      if (!first) message += '\n';
      first = false;
      message += line;
      if (last) return ReadStatus::kLine;
    }
  }
  while (ends_with(line, "\\")) {
    line.pop_back();
    message += line + '\n';
    st = reader.read(kContinue, line);
    if (st != ReadStatus::kLine) return st;
  }
  message += line;
  return ReadStatus::kLine;
}

std::string Style::note(std::string_view text) const {
  return enabled ? "\033[2m" + std::string(text) + "\033[0m" : std::string(text);
}

std::string Style::error(std::string_view text) const {
  return enabled ? "\033[31m" + std::string(text) + "\033[0m" : std::string(text);
}

Style terminal_style() {
  const char* no_color = std::getenv("NO_COLOR");
  Style s;
  s.enabled = ::isatty(STDOUT_FILENO) == 1 && (no_color == nullptr || no_color[0] == '\0');
  return s;
}

}  // namespace ternion::cli
