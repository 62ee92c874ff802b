// `ternion chat` (also `run -i`): a conversation through the model's chat template, one reply at a time through
// the generation Session. Each turn's prompt is the whole conversation rendered again; the session's prefix reuse
// runs only what is new since the last turn.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <string_view>

#include "chat_input.h"
#include "commands.h"
#include "generation_args.h"
#include "ternion/core/error.h"
#include "ternion/core/escape.h"
#include "ternion/core/param_rules.h"
#include "ternion/engine/chat.h"
#include "ternion/engine/generate.h"
#include "ternion/io/output_file.h"

namespace ternion::cli {

namespace {

constexpr const char* kHelp =
    "/help                  this list\n"
    "/bye                   leave (also Ctrl-D)\n"
    "/clear                 forget the conversation (the system prompt stays)\n"
    "/system TEXT           set the system prompt (empty: none)\n"
    "/set NAME VALUE        temp, top-k, top-p, min-p, repeat-penalty, seed, max-tokens (-1: until the end)\n"
    "/set                   show the settings\n"
    "/save FILE, /load FILE the conversation as JSON ({\"messages\": [...]})\n"
    "/tokens                context use, and what the last turn evaluated\n"
    "\"\"\" starts and ends a message of several lines; so does a line ending with \\\n"
    "Ctrl-C stops a reply, or clears the line\n";

// What the last turn did, for /tokens.
struct TurnCounts {
  int64_t prompt = 0, evaluated = 0, reused = 0, generated = 0;
};

class Chat {
 public:
  Chat(Generator& gen, ChatFormat& format, SamplingParams sampling, int32_t max_tokens, bool ignore_eos, Style style)
      : gen_(gen),
        format_(format),
        sampling_(sampling),
        max_tokens_(max_tokens),
        ignore_eos_(ignore_eos),
        style_(style) {}

  Conversation& conversation() { return conv_; }
  // Handles a /command; false when it asks to leave.
  bool command(const std::string& line);
  void reply(const std::string& message);

 private:
  void note(const std::string& text) const { std::fprintf(stderr, "%s\n", style_.note(text).c_str()); }
  void error(const std::string& text) const {
    std::fprintf(stderr, "%s\n", style_.error("error: " + one_line_message(text)).c_str());
  }
  void set(const std::string& args);
  // The conversation's prompt, dropping the oldest turns while it leaves too little room for a reply.
  std::vector<int32_t> fit_prompt();
  int64_t n_ctx() const { return gen_.session().context().n_ctx(); }

  Generator& gen_;
  ChatFormat& format_;
  Conversation conv_;
  SamplingParams sampling_;
  int32_t max_tokens_;  // -1: until the end of generation or the context is full
  bool ignore_eos_;
  Style style_;
  TurnCounts last_;
};

std::vector<int32_t> Chat::fit_prompt() {
  const int64_t reserve = max_tokens_ > 0 ? std::min<int64_t>(max_tokens_, n_ctx() / 2) : n_ctx() / 4;
  std::vector<int32_t> prompt = format_.prompt(conv_.messages());
  while (static_cast<int64_t>(prompt.size()) + reserve > n_ctx() && conv_.drop_oldest_turn()) {
    const size_t before = prompt.size();
    prompt = format_.prompt(conv_.messages());
    note("(the context is full: dropped the oldest turn, " + std::to_string(before - prompt.size()) + " tokens)");
  }
  if (static_cast<int64_t>(prompt.size()) >= n_ctx()) {
    throw Error("the conversation (" + std::to_string(prompt.size()) + " tokens) does not fit the context of " +
                std::to_string(n_ctx()) + " tokens; /clear it or raise -c/--ctx-size");
  }
  return prompt;
}

void Chat::reply(const std::string& message) {
  conv_.add("user", message);
  GenerationSpec spec;
  try {
    spec.prompt = fit_prompt();
  } catch (const Error& e) {
    conv_.pop_back();
    error(e.what());
    return;
  }
  const int64_t room = n_ctx() - static_cast<int64_t>(spec.prompt.size());
  spec.max_tokens = static_cast<int32_t>(max_tokens_ > 0 ? std::min<int64_t>(max_tokens_, room) : room);
  spec.sampling = sampling_;
  spec.ignore_eos = ignore_eos_;
  const int64_t prompt_size = static_cast<int64_t>(spec.prompt.size());

  std::string text;
  Finish finish;
  GenerationCallbacks cb;
  cb.on_delta = [&](Delta&& d) {
    if (d.text.empty()) return;
    text += d.text;
    write_stdout(d.text);
  };
  cb.on_finish = [&](const Finish& f) { finish = f; };
  cb.cancelled = [] { return interrupt_pending(); };
  Session& session = gen_.session();
  if (!session.start(std::move(spec), std::move(cb))) throw Error("the session has no free slot");
  while (session.step()) {
  }
  take_interrupt();
  write_stdout("\n");
  last_ = {prompt_size, finish.prompt_evaluated, finish.prompt_reused, finish.generated};
  if (finish.reason == FinishReason::kError) {
    conv_.pop_back();
    error(finish.error);
    return;
  }
  if (finish.reason == FinishReason::kCancelled) note("(reply stopped)");
  if (finish.reason == FinishReason::kLength && max_tokens_ <= 0) note("(the reply filled the context)");
  if (finish.reason == FinishReason::kCancelled && text.empty()) {
    conv_.pop_back();
    return;
  }
  conv_.add("assistant", text);
}

// One `/set` name: its rule and where the value goes.
struct Setting {
  const char* name;
  const ParamRule* rule;
  void (*apply)(SamplingParams& s, int32_t& max_tokens, double v);
  double (*show)(const SamplingParams& s, int32_t max_tokens);
};

// clang-format off
constexpr Setting kSettings[] = {
    {"temp", &params::kTemperature, [](SamplingParams& s, int32_t&, double v) { s.temperature = static_cast<float>(v); },
     [](const SamplingParams& s, int32_t) { return double{s.temperature}; }},
    {"top-k", &params::kTopK, [](SamplingParams& s, int32_t&, double v) { s.top_k = static_cast<int32_t>(v); },
     [](const SamplingParams& s, int32_t) { return double(s.top_k); }},
    {"top-p", &params::kTopP, [](SamplingParams& s, int32_t&, double v) { s.top_p = static_cast<float>(v); },
     [](const SamplingParams& s, int32_t) { return double{s.top_p}; }},
    {"min-p", &params::kMinP, [](SamplingParams& s, int32_t&, double v) { s.min_p = static_cast<float>(v); },
     [](const SamplingParams& s, int32_t) { return double{s.min_p}; }},
    {"repeat-penalty", &params::kRepeatPenalty,
     [](SamplingParams& s, int32_t&, double v) { s.repeat_penalty = static_cast<float>(v); },
     [](const SamplingParams& s, int32_t) { return double{s.repeat_penalty}; }},
    {"seed", &params::kSeed,
     [](SamplingParams& s, int32_t&, double v) { s.seed = v >= 0 ? static_cast<uint64_t>(v) : std::random_device{}(); },
     [](const SamplingParams& s, int32_t) { return static_cast<double>(s.seed); }},
    {"max-tokens", &params::kMaxTokens, [](SamplingParams&, int32_t& n, double v) { n = static_cast<int32_t>(v); },
     [](const SamplingParams&, int32_t n) { return double(n); }},
};
// clang-format on

void Chat::set(const std::string& args) {
  if (args.empty()) {
    for (const Setting& s : kSettings) {
      write_stdout(std::string(s.name) + " " + format_number(s.show(sampling_, max_tokens_)) + "\n");
    }
    return;
  }
  const size_t space = args.find(' ');
  const std::string name = args.substr(0, space);
  const std::string value = space == std::string::npos ? "" : args.substr(space + 1);
  const Setting* setting = nullptr;
  for (const Setting& s : kSettings) {
    if (name == s.name) setting = &s;
  }
  std::string names;
  for (const Setting& s : kSettings) names += std::string(names.empty() ? "" : ", ") + s.name;
  if (setting == nullptr) throw Error("/set: unknown setting '" + name + "' (settings: " + names + ")");
  char* end = nullptr;
  const double v = std::strtod(value.c_str(), &end);
  if (value.empty() || end != value.c_str() + value.size()) {
    throw Error("/set " + name + ": expected a number, got '" + value + "'");
  }
  const bool until_end = setting->rule == &params::kMaxTokens && v == -1;
  if (!until_end) check_param(*setting->rule, v, ParamSurface::kCommandLine);
  SamplingParams s = sampling_;
  int32_t n = max_tokens_;
  setting->apply(s, n, v);
  s.validate(ParamSurface::kCommandLine);
  sampling_ = s;
  max_tokens_ = n;
  note("(" + name + " = " + format_number(v) + ")");
}

bool Chat::command(const std::string& line) {
  const size_t space = line.find(' ');
  const std::string name = line.substr(0, space);
  std::string args = space == std::string::npos ? "" : line.substr(line.find_first_not_of(' ', space));
  while (!args.empty() && args.back() == ' ') args.pop_back();
  try {
    if (name == "/bye") return false;
    if (name == "/help" || name == "/?") {
      write_stdout(kHelp);
    } else if (name == "/clear") {
      conv_.clear();
      note("(conversation cleared)");
    } else if (name == "/system") {
      conv_.set_system(args);
      note(args.empty() ? "(no system prompt)" : "(system prompt set)");
    } else if (name == "/set") {
      set(args);
    } else if (name == "/save") {
      if (args.empty()) throw Error("/save: give a file name");
      OutputFile out(args);
      const std::string json = conv_.to_json().dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
      out.write({reinterpret_cast<const uint8_t*>(json.data()), json.size()});
      out.commit();
      note("(saved " + std::to_string(conv_.messages().size()) + " messages to " + args + ")");
    } else if (name == "/load") {
      if (args.empty()) throw Error("/load: give a file name");
      nlohmann::ordered_json j;
      try {
        j = nlohmann::ordered_json::parse(read_text_file(args));
      } catch (const nlohmann::json::exception& e) {
        throw Error(args + ": not valid JSON (" + e.what() + ")");
      }
      conv_ = Conversation::from_json(j, args);
      note("(loaded " + std::to_string(conv_.messages().size()) + " messages from " + args + ")");
    } else if (name == "/tokens") {
      const size_t used = format_.prompt(conv_.messages()).size();
      write_stdout("context: " + std::to_string(used) + " / " + std::to_string(n_ctx()) +
                   " tokens; last turn: prompt " + std::to_string(last_.prompt) + " tokens, " +
                   std::to_string(last_.evaluated) + " evaluated, " + std::to_string(last_.reused) + " reused; reply " +
                   std::to_string(last_.generated) + " tokens\n");
    } else {
      throw Error("unknown command '" + name + "' (/help lists them)");
    }
  } catch (const Error& e) {
    error(e.what());
  }
  return true;
}

}  // namespace

std::string template_source(const GenerationArgs& a, const Model& model) {
  if (!a.template_path.empty()) return read_text_file(a.template_path);
  const auto source = model.gguf().get_string("tokenizer.chat_template");
  if (source && !source->empty()) return *source;
  std::fprintf(stderr, "note: the model has no chat template; using ChatML (--template FILE sets one)\n");
  return kFallbackChatTemplate;
}

int run_chat(const GenerationArgs& a, const CLI::App& cmd) {
  if (!prompt_words(a).empty()) {
    throw Error("chat takes no prompt after the model ('" + prompt_words(a)[0] + "'); type messages at its prompt");
  }
  if (a.n_tokens != -1) check_param(params::kMaxTokens, a.n_tokens, ParamSurface::kCommandLine);
  check_generation_args(a);
  SamplingParams sampling = sampling_from_args(a);
  const auto model = load_generation_model(a, cmd, sampling);
  Generator gen(*model, context_options(a, *model), thread_count(a));
  const std::string source = template_source(a, *model);
  std::unique_ptr<ChatFormat> format;
  try {
    format = std::make_unique<ChatFormat>(gen.tokenizer(), source);
  } catch (const Error& e) {
    throw Error((a.template_path.empty() ? std::string("the model's chat template") : a.template_path) + ": " +
                e.what());
  }
  const Style style = terminal_style();
  Chat chat(gen, *format, sampling, a.n_tokens, a.ignore_eos, style);
  chat.conversation().set_system(a.system);
  install_interrupt_handler();
  const KeepOutputOnInterrupt keep_output;
  LineReader reader(::isatty(STDIN_FILENO) == 1, chat_history_file());
  if (reader.terminal()) {
    std::fprintf(stderr, "%s\n", style.note("/help for commands, /bye or Ctrl-D to leave").c_str());
  }
  std::string message;
  for (;;) {
    const ReadStatus st = read_message(reader, message);
    if (st == ReadStatus::kEnd) break;
    if (st == ReadStatus::kInterrupted) continue;
    if (message.find_first_not_of(" \t\n") == std::string::npos) continue;
    if (message[0] == '/') {
      if (!chat.command(message)) break;
      continue;
    }
    chat.reply(message);
  }
  if (reader.terminal()) write_stdout("\n");
  return 0;
}

Runner add_chat_command(CLI::App& app) {
  auto a = std::make_shared<GenerationArgs>();
  a->n_tokens = -1;
  CLI::App* c = app.add_subcommand("chat", "Chat with a model through its chat template");
  add_generation_flags(c, *a, "Most tokens per reply; -1 = until the end or the context is full (default -1)");
  add_chat_flags(c, *a);
  return [a, c] { return run_chat(*a, *c); };
}

}  // namespace ternion::cli
