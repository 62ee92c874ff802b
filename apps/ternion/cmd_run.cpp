// `ternion run`: generate text from a prompt, streaming it to stdout.
#include <chrono>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "generation_args.h"
#include "sandbox_args.h"
#include "ternion/core/error.h"
#include "ternion/core/param_rules.h"
#include "ternion/engine/generate.h"

namespace ternion::cli {

namespace {

struct RunArgs : GenerationArgs {
  std::string prompt, prompt_file;
  bool no_bos = false;
  bool json = false;
  bool special = false;
  bool interactive = false;
  bool execute = false;  // the agent loop over the prompt (cmd_agent.cpp)
  int max_rounds = 3;
  SandboxArgs sandbox;
};

int run(const RunArgs& a, const CLI::App& cmd) {
  if (a.interactive) return run_chat(a, cmd);
  if (!a.execute && (!a.system.empty() || !a.template_path.empty())) {
    throw Error("--system and --template are for chat (add -i) and the agent (--execute)");
  }
  if (!a.prompt.empty() && !a.prompt_file.empty()) throw Error("give the prompt with -p or -f, not both");
  const std::string prompt = a.prompt_file.empty() ? a.prompt : read_text_file(a.prompt_file);
  if (prompt.empty()) throw Error("the prompt is empty; give one with -p TEXT or -f FILE");
  if (a.execute) return run_agent_task(a, cmd, prompt, a.max_rounds, a.sandbox);
  check_param(params::kMaxTokens, a.n_tokens, ParamSurface::kCommandLine);
  check_generation_args(a);

  GenerateOptions opt;
  opt.max_tokens = a.n_tokens;
  if (a.no_bos) opt.add_bos = false;
  opt.ignore_eos = a.ignore_eos;
  opt.parse_special = a.special;
  opt.sampling = sampling_from_args(a);

  const auto t0 = std::chrono::steady_clock::now();
  const auto model = load_generation_model(a, cmd, opt.sampling);
  Generator gen(*model, context_options(a), thread_count(a));
  const double load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();

  TextCallback stream;
  if (!a.json) {
    stream = [](std::string_view piece) { write_stdout(piece); };
  }
  const GenerateResult r = gen.generate(prompt, opt, stream);
  const Timings& t = r.timings;
  if (a.json) {
    nlohmann::json j;
    j["prompt_tokens"] = r.prompt_tokens;
    j["tokens"] = r.tokens;
    j["text"] = r.text;
    j["finish_reason"] = r.finish_reason;
    j["seed"] = opt.sampling.seed;
    j["timings"] = {{"load_ms", load_ms},
                    {"prompt_ms", t.prompt_ms},
                    {"prompt_tokens", t.prompt_tokens},
                    {"prompt_reused", t.prompt_reused},
                    {"prompt_tokens_per_s", t.prompt_tps()},
                    {"generate_ms", t.generate_ms},
                    {"generated_tokens", t.generated_tokens},
                    {"generate_tokens_per_s", t.generate_tps()}};
    write_stdout(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
  } else {
    write_stdout("\n");
    std::fprintf(stderr,
                 "load %.1f ms | prompt %lld tokens, %.1f tok/s | generated %lld tokens, %.1f tok/s | finish: %s\n",
                 load_ms, static_cast<long long>(t.prompt_tokens), t.prompt_tps(),
                 static_cast<long long>(t.generated_tokens), t.generate_tps(), r.finish_reason.c_str());
  }
  return 0;
}

}  // namespace

Runner add_run_command(CLI::App& app) {
  auto a = std::make_shared<RunArgs>();
  CLI::App* c = app.add_subcommand("run", "Generate text from a prompt");
  add_generation_flags(c, *a, "Most new tokens to generate (default 128)");
  c->add_option("-p,--prompt", a->prompt, "Prompt text");
  c->add_option("-f,--file", a->prompt_file, "Read the prompt from a file");
  c->add_flag("--no-bos", a->no_bos, "Do not add the beginning-of-sequence token");
  c->add_flag("--special", a->special, "Parse special-token text in the prompt (e.g. <|im_start|>)");
  c->add_flag("--json", a->json, "Print one JSON object instead of streaming text");
  c->add_flag("-i,--interactive,--conversation", a->interactive,
              "Chat with the model instead (as `ternion chat`; also -cnv)");
  add_chat_flags(c, *a);
  c->add_flag("--execute", a->execute,
              "Run the code of the reply in the sandbox and let the model fix it (as `ternion agent`)");
  c->add_option("--max-rounds", a->max_rounds, "With --execute: replies the model may give (default 3)");
  add_sandbox_flags(c, a->sandbox);
  return [a, c] { return run(*a, *c); };
}

}  // namespace ternion::cli
