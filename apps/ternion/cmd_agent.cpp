// `ternion agent -m MODEL "task"` (also `run --execute`): the model answers through its chat template, the code
// blocks of each reply run in the sandbox, and their results go back to it until a run succeeds or the rounds are
// spent (the loop is agent::run_agent; this file plays the model's turns with a Generator).
#include <cstdio>
#include <memory>
#include <string>

#include "agent_chat.h"
#include "commands.h"
#include "generation_args.h"
#include "sandbox_args.h"
#include "ternion/agent/agent_loop.h"
#include "ternion/agent/sandbox.h"
#include "ternion/core/error.h"
#include "ternion/core/param_rules.h"
#include "ternion/engine/chat.h"
#include "ternion/engine/generate.h"

namespace ternion::cli {

namespace {

// The model's turns: the whole conversation rendered through the chat template each time (the session reuses the
// prefix it already holds), the reply streamed to stdout.
class ChatModel : public TemplateAgentModel {
 public:
  ChatModel(Generator& gen, const ChatFormat& format, const std::string& source, const SamplingParams& sampling,
            int32_t max_tokens, bool ignore_eos, const std::string& system)
      : TemplateAgentModel(format, source, system),
        gen_(gen),
        sampling_(sampling),
        max_tokens_(max_tokens),
        ignore_eos_(ignore_eos) {}

 protected:
  std::string generate(std::vector<int32_t> prompt, bool special) override {
    GenerationSpec spec;
    spec.prompt = std::move(prompt);
    const int64_t n_ctx = gen_.session().context().n_ctx();
    const int64_t room = n_ctx - static_cast<int64_t>(spec.prompt.size());
    if (room < 1) {
      throw Error("the conversation (" + std::to_string(spec.prompt.size()) +
                  " tokens) no longer fits the context of " + std::to_string(n_ctx) +
                  " tokens; raise -c/--ctx-size or lower --max-rounds");
    }
    spec.max_tokens = static_cast<int32_t>(max_tokens_ > 0 ? std::min<int64_t>(max_tokens_, room) : room);
    spec.sampling = sampling_;
    spec.ignore_eos = ignore_eos_;
    spec.special = special;
    std::string text;
    Finish finish;
    GenerationCallbacks cb;
    cb.on_delta = [&](Delta&& d) {
      text += d.text;
      write_stdout(d.text);
    };
    cb.on_finish = [&](const Finish& f) { finish = f; };
    Session& session = gen_.session();
    if (!session.start(std::move(spec), std::move(cb))) throw Error("the session has no free slot");
    while (session.step()) {
    }
    write_stdout("\n");
    if (finish.reason == FinishReason::kError) throw Error(finish.error);
    return text;
  }

 private:
  Generator& gen_;
  SamplingParams sampling_;
  int32_t max_tokens_;
  bool ignore_eos_;
};

struct AgentArgs : GenerationArgs, SandboxArgs {
  std::string task;
  int max_rounds = 3;
};

}  // namespace

int run_agent_task(const GenerationArgs& g, const CLI::App& cmd, const std::string& task, int max_rounds,
                   const SandboxArgs& s) {
  if (task.empty()) throw Error("the agent needs a task (the text to solve)");
  if (max_rounds < 1 || max_rounds > 100) {
    throw Error("--max-rounds must be 1 to 100, got " + std::to_string(max_rounds));
  }
  if (g.n_tokens != -1) check_param(params::kMaxTokens, g.n_tokens, ParamSurface::kCommandLine);
  check_generation_args(g);
  const agent::RunnerOptions options = runner_options(s);
  require_confirmation_channel(s);
  const agent::Sandbox sandbox;  // before loading the model: a missing bwrap is said at once

  SamplingParams sampling = sampling_from_args(g);
  const auto model = load_generation_model(g, cmd, sampling);
  Generator gen(*model, context_options(g, *model), thread_count(g));
  const std::string source = template_source(g, *model);
  std::unique_ptr<ChatFormat> format;
  try {
    format = std::make_unique<ChatFormat>(gen.tokenizer(), source);
  } catch (const Error& e) {
    throw Error((g.template_path.empty() ? std::string("the model's chat template") : g.template_path) + ": " +
                e.what());
  }
  ChatModel chat(gen, *format, source, sampling, g.n_tokens, g.ignore_eos, g.system);

  agent::AgentHooks hooks;
  hooks.execute = [&](const agent::CodeBlock& b) { return agent::run_block(sandbox, b, options); };
  hooks.confirm = [&](const std::vector<agent::CodeBlock>& blocks) { return confirm_blocks(s, blocks); };
  hooks.on_reply = [&](int round, const std::string&) {
    std::fprintf(stderr, "(round %d of %d: reply above)\n", round, max_rounds);
  };
  hooks.on_result = [](const std::string& result) { write_stdout(result); };
  const agent::AgentResult r = agent::run_agent(chat, task, max_rounds, options, hooks);
  std::fflush(stdout);
  std::fprintf(stderr, "agent: %s\n", r.reason.c_str());
  return r.stop == agent::AgentStop::kSucceeded ? 0 : 1;
}

Runner add_agent_command(CLI::App& app) {
  auto a = std::make_shared<AgentArgs>();
  a->n_tokens = 1024;
  CLI::App* c = app.add_subcommand(
      "agent", "Let a model solve a task by writing code that runs in the sandbox, fixing it from the results");
  add_generation_flags(c, *a, "Most tokens per reply; -1 = until the end or the context is full (default 1024)");
  c->remove_option(c->get_option("model"));  // the positional argument is the task
  c->add_option("task", a->task, "What the code should do")->required();
  c->add_option("--max-rounds", a->max_rounds, "Replies the model may give to get the code right (default 3)");
  add_chat_flags(c, *a);
  add_sandbox_flags(c, *a);
  return [a, c] { return run_agent_task(*a, *c, a->task, a->max_rounds, *a); };
}

}  // namespace ternion::cli
