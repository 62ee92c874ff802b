// `ternion chat` as users drive it: through a pseudo-terminal (libedit, Ctrl-C) and through a pipe (scripts).
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "apps/cli_runner.h"
#include "support/test_support.h"

namespace ternion {
namespace {

namespace fs = std::filesystem;

using test::Outcome;
using test::run_cli;
using test::slurp;

std::string model_path() { return test::fixture("gguf/kjv-qwen2-F16.gguf").string(); }
std::string template_path() { return test::fixture("templates/Qwen-Qwen2.5-7B-Instruct.jinja").string(); }
std::string chat_flags() { return "-m " + model_path() + " --template " + template_path() + " --temp 0"; }

// The program on the slave side of a pseudo-terminal; the test types into the master side and reads the screen.
class Terminal {
 public:
  // `no_color`: run with NO_COLOR=1.
  explicit Terminal(const std::vector<std::string>& args, bool no_color = false) {
    pid_ = ::forkpty(&fd_, nullptr, nullptr, nullptr);
    if (pid_ == 0) {
      ::setenv("TERM", "xterm", 1);
      if (no_color) {
        ::setenv("NO_COLOR", "1", 1);
      } else {
        ::unsetenv("NO_COLOR");
      }
      std::vector<char*> argv;
      std::string binary = TERNION_BINARY;
      argv.push_back(binary.data());
      std::vector<std::string> copy = args;
      for (std::string& a : copy) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
  }
  ~Terminal() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (fd_ >= 0) ::close(fd_);
  }

  // Waits until `text` appears after what earlier waits consumed; the screen up to its end is consumed.
  bool wait_for(const std::string& text, int seconds = 10) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    for (;;) {
      const size_t at = screen_.find(text, consumed_);
      if (at != std::string::npos) {
        consumed_ = at + text.size();
        return true;
      }
      if (std::chrono::steady_clock::now() > deadline) return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n <= 0) return false;
      screen_.append(buf, static_cast<size_t>(n));
    }
  }
  // Waits for the prompt and for libedit to take the terminal (raw mode): keys typed earlier reach the terminal in
  // its cooked mode, where a Ctrl-D turns into a NUL byte once libedit switches (a race a person typing never wins).
  bool wait_for_prompt() {
    if (!wait_for(">>> ")) return false;
    for (int i = 0; i < 200; ++i) {
      termios mode{};
      if (::tcgetattr(fd_, &mode) == 0 && (mode.c_lflag & ICANON) == 0) return true;
      ::usleep(10000);
    }
    return false;
  }
  void type(const std::string& keys) { ASSERT_EQ(::write(fd_, keys.data(), keys.size()), ssize_t(keys.size())); }
  // The consumed screen since `from`.
  std::string since(size_t from) const { return screen_.substr(from, consumed_ - from); }
  size_t mark() const { return consumed_; }
  const std::string& screen() const { return screen_; }
  // The exit status; -1 when the program is still running after `seconds` (it is then killed). `keys`, when given,
  // is typed every 100 ms meanwhile: a key that lands while the program is between prompt and raw mode is lost.
  int wait_exit(const std::string& keys = "", int seconds = 10) {
    int status = 0;
    for (int i = 0; i < seconds * 100; ++i) {
      if (!keys.empty() && i % 10 == 0) (void)!::write(fd_, keys.data(), keys.size());
      char buf[4096];
      while (::poll(std::array<pollfd, 1>{pollfd{fd_, POLLIN, 0}}.data(), 1, 0) > 0 &&
             ::read(fd_, buf, sizeof buf) > 0) {
      }
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
      }
      ::usleep(10000);
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  bool exited_ = false;
  std::string screen_;
  size_t consumed_ = 0;
};

// The numbers of a /tokens line.
struct TokensLine {
  long used = -1, n_ctx = -1, prompt = -1, evaluated = -1, reused = -1, reply = -1;
};
TokensLine parse_tokens_line(const std::string& text) {
  static const std::regex re(
      R"(context: (\d+) / (\d+) tokens; last turn: prompt (\d+) tokens, (\d+) evaluated, (\d+) reused; reply (\d+) tokens)");
  std::smatch m;
  TokensLine t;
  if (!std::regex_search(text, m, re)) return t;
  t = {std::stol(m[1]), std::stol(m[2]), std::stol(m[3]), std::stol(m[4]), std::stol(m[5]), std::stol(m[6])};
  return t;
}

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// `run` on the template-rendered conversation (rendered by `ternion template`), as one JSON object.
nlohmann::json run_on_rendered(const nlohmann::json& messages, int n_tokens) {
  const fs::path file = test::cli_scratch_dir() / "messages.json";
  std::ofstream(file) << messages.dump();
  const Outcome rendered =
      run_cli("template --template " + template_path() + " --messages " + file.string() + " --add-generation-prompt");
  EXPECT_EQ(rendered.code, 0) << rendered.err;
  const Outcome o = run_cli("run -m " + model_path() + " -p " + shell_quote(rendered.out) + " --special --temp 0 -n " +
                            std::to_string(n_tokens) + " --json");
  EXPECT_EQ(o.code, 0) << o.err;
  return nlohmann::json::parse(o.out);
}

// The chat history of the programs these tests start goes to a scratch folder, never the user's home.
fs::path state_dir() { return test::cli_scratch_dir() / "state"; }

class ChatCli : public ::testing::Test {
 protected:
  void SetUp() override {
    TERNION_REQUIRE_FIXTURE(model_path());
    TERNION_REQUIRE_FIXTURE(template_path());
    ::setenv("XDG_STATE_HOME", state_dir().c_str(), 1);
  }
};

TEST_F(ChatCli, HistoryIsKeptPrivatelyAcrossSessions) {
  fs::remove_all(state_dir());
  {
    Terminal t({"chat", "-m", model_path(), "--template", template_path(), "-n", "1"});
    ASSERT_TRUE(t.wait_for_prompt()) << t.screen();
    t.type("/system be brief\r");
    ASSERT_TRUE(t.wait_for("(system prompt set)")) << t.screen();
    ASSERT_TRUE(t.wait_for_prompt()) << t.screen();
    EXPECT_EQ(t.wait_exit("\x04"), 0) << t.screen();
  }
  const fs::path file = state_dir() / "ternion" / "history";
  ASSERT_TRUE(fs::exists(file));
  EXPECT_NE(slurp(file).find("/system\\040be\\040brief"), std::string::npos) << slurp(file);  // libedit's escapes
  EXPECT_EQ(fs::status(file).permissions() & (fs::perms::group_all | fs::perms::others_all), fs::perms::none);
  // The next session finds the line with the up arrow.
  Terminal t({"chat", "-m", model_path(), "--template", template_path(), "-n", "1"});
  ASSERT_TRUE(t.wait_for_prompt()) << t.screen();
  t.type("\x1b[A\r");
  ASSERT_TRUE(t.wait_for("(system prompt set)")) << t.screen();
  ASSERT_TRUE(t.wait_for_prompt()) << t.screen();
  EXPECT_EQ(t.wait_exit("\x04"), 0) << t.screen();
  // Piped, nothing is read or written.
  fs::remove_all(state_dir());
  EXPECT_EQ(run_cli("chat -m " + model_path() + " --template " + template_path() + " -n 1", "/bye\n").code, 0);
  EXPECT_FALSE(fs::exists(file));
}

TEST_F(ChatCli, ProgressOnATerminalOnly) {
  const std::string q8 = test::fixture("gguf/kjv-llama-Q8_0.gguf").string();
  const fs::path out = test::cli_scratch_dir() / "progress.gguf";
  {
    Terminal t({"run", "-m", q8, "-p", "In the", "-n", "2"});
    EXPECT_TRUE(t.wait_for("loading kjv-llama-Q8_0.gguf [")) << t.screen();
    EXPECT_EQ(t.wait_exit(), 0) << t.screen();
  }
  {
    Terminal t({"synth", "--shape", "smollm-135m", "--vocab-from", q8, "-o", out.string()});
    EXPECT_TRUE(t.wait_for("synth smollm-135m [")) << t.screen();
    // 135 M random weights: seconds in a release build, longer under the sanitizers.
    EXPECT_EQ(t.wait_exit("", test::slow_build() ? 180 : 60), 0) << t.screen();
  }
  {
    Terminal t({"bench", "-m", q8, "-p", "8", "-n", "2", "-r", "1"});
    EXPECT_TRUE(t.wait_for("bench: kjv-llama-Q8_0.gguf")) << t.screen();
    EXPECT_EQ(t.wait_exit("", test::slow_build() ? 120 : 10), 0) << t.screen();
  }
  for (const std::string& args :
       {"run -m " + q8 + " -p 'In the' -n 2", "synth --shape smollm-135m --vocab-from " + q8 + " -o " + out.string(),
        "bench -m " + q8 + " -p 8 -n 2 -r 1"}) {
    const Outcome o = run_cli(args);
    EXPECT_EQ(o.code, 0) << o.err;
    EXPECT_EQ(o.err.find('['), std::string::npos) << args << ": " << o.err;
    EXPECT_EQ(o.err.find("bench:"), std::string::npos) << args << ": " << o.err;
  }
  fs::remove(out);
}

TEST_F(ChatCli, RunWithoutAPromptOnATerminalChats) {
  Terminal t({"run", "-m", model_path(), "--template", template_path(), "-n", "1"});
  ASSERT_TRUE(t.wait_for("no prompt given: chatting")) << t.screen();
  ASSERT_TRUE(t.wait_for_prompt()) << t.screen();
  t.type("/bye\r");
  EXPECT_EQ(t.wait_exit(), 0) << t.screen();
  Terminal plain({"run", "-m", model_path(), "-no-cnv"});  // -no-cnv: a completion, which needs a prompt
  ASSERT_TRUE(plain.wait_for("the prompt is empty")) << plain.screen();
  EXPECT_EQ(plain.wait_exit(), 1);
}

TEST_F(ChatCli, TokenizeSaysItReadsATerminal) {
  Terminal t({"tokenize", "-m", model_path()});
  ASSERT_TRUE(t.wait_for("reading the text from standard input")) << t.screen();
  t.type("hi\n\x04");
  EXPECT_EQ(t.wait_exit(), 0) << t.screen();
  EXPECT_EQ(run_cli("tokenize -m " + model_path(), "hi").err, "") << "nothing said when piped";
}

TEST_F(ChatCli, TwoTurnsOnATerminalMatchRunAndReuseThePrefix) {
  const fs::path saved = test::cli_scratch_dir() / "conversation.json";
  Terminal t({"chat", "-m", model_path(), "--template", template_path(), "--temp", "0", "-n", "12", "-c", "512"});
  ASSERT_TRUE(t.wait_for_prompt()) << t.screen();
  t.type("And God said\r");
  ASSERT_TRUE(t.wait_for_prompt()) << t.screen();
  t.type("/tokens\r");
  ASSERT_TRUE(t.wait_for(" tokens\r\n")) << t.screen();
  const TokensLine first = parse_tokens_line(t.screen());
  ASSERT_GT(first.prompt, 0) << t.screen();
  ASSERT_TRUE(t.wait_for_prompt()) << t.screen();
  t.type("Let there be light\r");
  ASSERT_TRUE(t.wait_for_prompt()) << t.screen();
  size_t from = t.mark();
  t.type("/tokens\r");
  ASSERT_TRUE(t.wait_for(" tokens\r\n")) << t.screen();
  const TokensLine second = parse_tokens_line(t.since(from));
  ASSERT_TRUE(t.wait_for_prompt()) << t.screen();
  t.type("/save " + saved.string() + "\r");
  ASSERT_TRUE(t.wait_for("(saved 4 messages")) << t.screen();
  ASSERT_TRUE(t.wait_for_prompt()) << t.screen();
  t.type("/clear\r");
  ASSERT_TRUE(t.wait_for("(conversation cleared)")) << t.screen();
  ASSERT_TRUE(t.wait_for_prompt()) << t.screen();
  t.type("/load " + saved.string() + "\r");
  ASSERT_TRUE(t.wait_for("(loaded 4 messages")) << t.screen();
  ASSERT_TRUE(t.wait_for_prompt()) << t.screen();
  from = t.mark();
  t.type("/tokens\r");
  ASSERT_TRUE(t.wait_for(" tokens\r\n")) << t.screen();
  const TokensLine restored = parse_tokens_line(t.since(from));
  ASSERT_TRUE(t.wait_for_prompt()) << t.screen();
  t.type("/bye\r");
  EXPECT_EQ(t.wait_exit(), 0) << t.screen();

  // The second turn ran only what the cache did not hold: the cache kept the first prompt and the reply but its
  // last token (sampled, never run).
  std::printf("turn 1: prompt %ld, evaluated %ld; turn 2: prompt %ld, evaluated %ld, reused %ld\n", first.prompt,
              first.evaluated, second.prompt, second.evaluated, second.reused);
  EXPECT_EQ(first.evaluated, first.prompt);
  EXPECT_EQ(second.reused, first.prompt + first.reply - 1);
  EXPECT_EQ(second.evaluated, second.prompt - second.reused);
  EXPECT_LT(second.evaluated, second.prompt - first.prompt);
  EXPECT_EQ(restored.used, second.used) << "/load restores the conversation";

  // Each reply is `run`'s on the conversation rendered through the template.
  const auto conv = nlohmann::json::parse(slurp(saved))["messages"];
  ASSERT_EQ(conv.size(), 4u);
  const auto run1 = run_on_rendered(nlohmann::json::array({conv[0]}), 12);
  EXPECT_EQ(run1["text"], conv[1]["content"]);
  EXPECT_EQ(long(run1["prompt_tokens"].size()), first.prompt);
  EXPECT_EQ(long(run1["tokens"].size()), first.reply);
  const auto run2 = run_on_rendered(nlohmann::json::array({conv[0], conv[1], conv[2]}), 12);
  EXPECT_EQ(run2["text"], conv[3]["content"]);
  EXPECT_EQ(long(run2["prompt_tokens"].size()), second.prompt);
  EXPECT_EQ(long(run2["tokens"].size()), second.reply);
}

TEST_F(ChatCli, CtrlCStopsAReplyAndClearsTheLine) {
  Terminal t({"chat", "-m", model_path(), "--template", template_path(), "--temp", "0", "--ignore-eos", "-c", "16384"});
  ASSERT_TRUE(t.wait_for_prompt()) << t.screen();
  t.type("And God said\r");
  ASSERT_TRUE(t.wait_for("To the queen.")) << t.screen();  // the reply has started (greedy: always these words)
  t.type("\x03");
  ASSERT_TRUE(t.wait_for("(reply stopped)")) << t.screen();
  ASSERT_TRUE(t.wait_for_prompt()) << t.screen();
  t.type("half a line");
  ASSERT_TRUE(t.wait_for("half a line")) << t.screen();
  t.type("\x03");
  ASSERT_TRUE(t.wait_for_prompt()) << t.screen();
  const size_t from = t.mark();
  t.type("/tokens\r");
  ASSERT_TRUE(t.wait_for(" tokens\r\n")) << t.screen();
  const TokensLine tokens = parse_tokens_line(t.since(from));
  EXPECT_GT(tokens.reply, 0);
  EXPECT_LT(tokens.reply, 16384 - tokens.prompt) << "the reply stopped before the context was full";
  ASSERT_TRUE(t.wait_for_prompt()) << t.screen();
  EXPECT_EQ(t.wait_exit("\x04"), 0) << t.screen();  // Ctrl-D leaves
}

TEST_F(ChatCli, ColourOnATerminalUnlessNoColor) {
  for (const bool no_color : {false, true}) {
    Terminal t({"chat", "-m", model_path(), "--template", template_path(), "-n", "1"}, no_color);
    ASSERT_TRUE(t.wait_for_prompt()) << t.screen();
    t.type("/frobnicate\r");
    ASSERT_TRUE(t.wait_for("unknown command")) << t.screen();
    ASSERT_TRUE(t.wait_for_prompt()) << t.screen();
    t.type("/bye\r");
    EXPECT_EQ(t.wait_exit(), 0) << t.screen();
    EXPECT_EQ(t.screen().find("\033[31merror: unknown command") != std::string::npos, !no_color) << t.screen();
    EXPECT_EQ(t.screen().find("\033[2m") != std::string::npos, !no_color) << t.screen();
  }
}

TEST_F(ChatCli, PipedCommandsAndTheirErrors) {
  const fs::path saved = test::cli_scratch_dir() / "piped.json";
  const Outcome o = run_cli("chat " + chat_flags() + " -n 2",
                            "/help\n/set temp abc\n/set top-p 2\n/set volume 3\n/set top-k 5\n/frobnicate\n"
                            "/load /nonexistent/conv.json\n/save\n/system Speak as the KJV.\n"
                            "\"\"\"\nfirst line\nsecond line\n\"\"\"\none\\\ntwo\n/save " +
                                saved.string() + "\n/tokens\n");
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.out.find("/set NAME VALUE"), std::string::npos) << o.out;
  EXPECT_NE(o.err.find("error: /set temp: expected a number, got 'abc'\n"), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("error: --top-p must be in (0, 1], got 2\n"), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("error: /set: unknown setting 'volume'"), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("(top-k = 5)"), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("error: unknown command '/frobnicate'"), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("error: /nonexistent/conv.json: cannot open"), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("error: /save: give a file name"), std::string::npos) << o.err;
  EXPECT_EQ(o.out.find('\033'), std::string::npos) << "no colour through a pipe";
  EXPECT_EQ(o.err.find('\033'), std::string::npos) << "no colour through a pipe";
  EXPECT_NE(o.out.find("context: "), std::string::npos) << o.out;
  const auto conv = nlohmann::json::parse(slurp(saved))["messages"];
  ASSERT_EQ(conv.size(), 5u) << conv.dump();
  EXPECT_EQ(conv[0], (nlohmann::json{{"role", "system"}, {"content", "Speak as the KJV."}}));
  EXPECT_EQ(conv[1]["content"], "first line\nsecond line");
  EXPECT_EQ(conv[3]["content"], "one\ntwo");
}

TEST_F(ChatCli, AFullContextDropsTheOldestTurns) {
  const fs::path saved = test::cli_scratch_dir() / "full.json";
  std::string input = "/system Be brief.\n";
  for (int i = 0; i < 6; ++i)
    input += "And it came to pass in those days, that there went out a decree " + std::to_string(i) + "\n";
  const Outcome o = run_cli("chat " + chat_flags() + " -n 16 -c 160", input + "/save " + saved.string() + "\n");
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.err.find("(the context is full: dropped the oldest turn"), std::string::npos) << o.err;
  EXPECT_EQ(o.err.find("error"), std::string::npos) << o.err;
  const auto conv = nlohmann::json::parse(slurp(saved))["messages"];
  EXPECT_EQ(conv[0]["content"], "Be brief.") << "the system prompt stays";
  EXPECT_LT(conv.size(), 13u);
  EXPECT_NE(conv.back()["role"], "system");
}

TEST_F(ChatCli, RunInteractiveIsTheSameChat) {
  const std::string input = "In the beginning\n/tokens\n";
  const Outcome chat = run_cli("chat " + chat_flags() + " -n 4", input);
  const Outcome i = run_cli("run -i " + chat_flags() + " -n 4", input);
  const Outcome cnv = run_cli("run -cnv -sys '' " + chat_flags() + " -n 4", input);
  ASSERT_EQ(chat.code, 0) << chat.err;
  EXPECT_EQ(i.out, chat.out) << i.err;
  EXPECT_EQ(cnv.out, chat.out) << cnv.err;
  test::expect_one_line_error(run_cli("run " + chat_flags() + " -p hi --system Hello"), "are for chat");
}

}  // namespace
}  // namespace ternion
