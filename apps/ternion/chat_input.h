// What `ternion chat` reads and how it looks: lines from a terminal through libedit (editing, history) or plain
// lines from a pipe, messages of several lines, Ctrl-C as a flag, colour only on a terminal.
#pragma once

#include <string>
#include <string_view>

namespace ternion::cli {

// Ctrl-C: SIGINT only sets a flag (the handler does nothing else); the chat loop takes it at the prompt and
// polls it during a reply.
void install_interrupt_handler();
bool take_interrupt();     // true once per Ctrl-C since the last call
bool interrupt_pending();  // the flag, left as it is

// While it lives, Ctrl-C on the terminal (if stdin is one) no longer discards output still on its way to the screen
// (NOFLSH): else the note that a reply stopped and the next prompt, written just after the signal, can vanish.
class KeepOutputOnInterrupt {
 public:
  KeepOutputOnInterrupt();
  ~KeepOutputOnInterrupt();
  KeepOutputOnInterrupt(const KeepOutputOnInterrupt&) = delete;
  KeepOutputOnInterrupt& operator=(const KeepOutputOnInterrupt&) = delete;

 private:
  bool changed_ = false;
  unsigned saved_lflag_ = 0;
};

enum class ReadStatus { kLine, kInterrupted, kEnd };

class LineReader {
 public:
  // `terminal`: edit lines with libedit (history included); else read plain lines from stdin. On a terminal the
  // history is read from `history_file` (when not empty) and written back, private to the user, at the end.
  explicit LineReader(bool terminal, std::string history_file = "");
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // One line without its newline. kInterrupted: Ctrl-C (the line is dropped); kEnd: Ctrl-D or end of input.
  ReadStatus read(const char* prompt, std::string& line);
  bool terminal() const { return terminal_; }

 private:
  bool terminal_;
  std::string history_file_;
};

// Where chat keeps its history: $XDG_STATE_HOME/ternion/history, else ~/.ternion_history; empty when neither
// variable is set.
std::string chat_history_file();

// One message: a line, lines joined by a trailing backslash, or a """ block (as Ollama: from the line starting
// with """ to the line ending with """). Ctrl-C drops the whole message.
ReadStatus read_message(LineReader& reader, std::string& message);

// Colours for a terminal (none when `enabled` is false: a pipe, or NO_COLOR set).
struct Style {
  bool enabled = false;
  std::string note(std::string_view text) const;   // dim
  std::string error(std::string_view text) const;  // red
};
// Colour when stdout is a terminal and NO_COLOR is unset or empty.
Style terminal_style();

}  // namespace ternion::cli
