// `ternion run`: generate text from a prompt, streaming it to stdout.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "chat_input.h"
#include "commands.h"
#include "generation_args.h"
#include "run_prompt.h"
#include "sandbox_args.h"
#include "ternion/core/error.h"
#include "ternion/core/param_rules.h"
#include "ternion/engine/generate.h"
#include "ternion/sampling/json_schema.h"

namespace ternion::cli {

namespace {

// Exit status of a run stopped by Ctrl-C (128 + SIGINT, as a shell reports a process killed by it).
constexpr int kInterruptedStatus = 130;

struct RunArgs : GenerationArgs {
  std::string prompt, prompt_file;
  std::vector<std::string> stop;
  bool no_bos = false;
  bool json = false;
  bool print_special = false;
  bool no_parse_special = false;
  bool escape = false;
  bool interactive = false;
  bool execute = false;  // the agent loop over the prompt (cmd_agent.cpp)
  int max_rounds = 3;
  SandboxArgs sandbox;
  bool no_conversation = false;
  std::string grammar, grammar_file, json_schema, json_schema_file;  // the output's constraint (one at most)
};

// The GBNF the output must match, from --grammar(-file) or --json-schema(-file); empty when none is given.
std::string output_grammar(const RunArgs& a) {
  const int given = !a.grammar.empty() + !a.grammar_file.empty() + !a.json_schema.empty() + !a.json_schema_file.empty();
  if (given > 1) throw Error("give one of --grammar, --grammar-file, --json-schema and --json-schema-file");
  if (!a.grammar.empty()) return a.grammar;
  if (!a.grammar_file.empty()) return read_text_file(a.grammar_file);
  if (!a.json_schema.empty()) return json_schema_to_gbnf(std::string_view(a.json_schema));
  if (!a.json_schema_file.empty()) return json_schema_to_gbnf(std::string_view(read_text_file(a.json_schema_file)));
  return "";
}

void print_json(const GenerateResult& r, uint64_t seed, double load_ms) {
  const Timings& t = r.timings;
  nlohmann::json j;
  j["prompt_tokens"] = r.prompt_tokens;
  j["tokens"] = r.tokens;
  j["text"] = r.text;
  j["finish_reason"] = r.finish_reason;
  j["seed"] = seed;
  j["timings"] = {{"load_ms", load_ms},
                  {"prompt_ms", t.prompt_ms},
                  {"prompt_tokens", t.prompt_tokens},
                  {"prompt_reused", t.prompt_reused},
                  {"prompt_tokens_per_s", t.prompt_tps()},
                  {"generate_ms", t.generate_ms},
                  {"generated_tokens", t.generated_tokens},
                  {"generate_tokens_per_s", t.generate_tps()}};
  write_stdout(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

int run(const RunArgs& a, const CLI::App& cmd) {
  if (a.interactive && !a.no_conversation) return run_chat(a, cmd);
  // No prompt at all on a terminal: chat, as `ollama run MODEL` does.
  const bool no_prompt = cmd.count("--prompt") == 0 && a.prompt_file.empty() && prompt_words(a).empty();
  if (no_prompt && !a.execute && !a.no_conversation && ::isatty(STDIN_FILENO) == 1 && !a.json) {
    std::fprintf(stderr, "(no prompt given: chatting; -p TEXT for one completion)\n");
    return run_chat(a, cmd);
  }
  if (!a.execute && (!a.system.empty() || !a.template_path.empty())) {
    throw Error("--system and --template are for chat (add -i) and the agent (--execute)");
  }
  const std::string prompt =
      read_prompt({cmd.count("--prompt") > 0, a.prompt, a.prompt_file, prompt_words(a), a.escape});
  if (a.execute) return run_agent_task(a, cmd, prompt, a.max_rounds, a.sandbox);
  if (a.n_tokens != -1) check_param(params::kMaxTokens, a.n_tokens, ParamSurface::kCommandLine);
  check_generation_args(a);

  GenerateOptions opt;
  opt.max_tokens = a.n_tokens;
  if (a.no_bos) opt.add_bos = false;
  opt.ignore_eos = a.ignore_eos;
  opt.parse_special = !a.no_parse_special;
  opt.print_special = a.print_special;
  opt.stop = a.stop;
  opt.sampling = sampling_from_args(a);
  opt.sampling.grammar = output_grammar(a);

  const auto t0 = std::chrono::steady_clock::now();
  const auto model = load_generation_model(a, cmd, opt.sampling);
  Generator gen(*model, context_options(a, *model), thread_count(a));
  const double load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();

  TextCallback stream;
  if (!a.json) {
    stream = [](std::string_view piece) { write_stdout(piece); };
  }
  // Ctrl-C ends the reply (the line and the summary are still printed), as llama-cli does.
  install_interrupt_handler();
  const GenerateResult r = gen.generate(prompt, opt, stream, [] { return interrupt_pending(); });
  const Timings& t = r.timings;
  if (a.json) {
    print_json(r, opt.sampling.seed, load_ms);
  } else {
    write_stdout("\n");
    if (r.context_full) {
      std::fprintf(stderr, "note: the context of %lld tokens is full (raise -c/--ctx-size for more)\n",
                   static_cast<long long>(gen.session().context().n_ctx()));
    }
    std::fprintf(stderr,
                 "load %.1f ms | prompt %lld tokens, %.1f tok/s | generated %lld tokens, %.1f tok/s | finish: %s\n",
                 load_ms, static_cast<long long>(t.prompt_tokens), t.prompt_tps(),
                 static_cast<long long>(t.generated_tokens), t.generate_tps(), r.finish_reason.c_str());
  }
  return r.finish_reason == "cancelled" ? kInterruptedStatus : 0;
}

}  // namespace

Runner add_run_command(CLI::App& app) {
  auto a = std::make_shared<RunArgs>();
  CLI::App* c = app.add_subcommand("run", "Generate text from a prompt");
  add_generation_flags(c, *a,
                       "Most new tokens to generate (default 128); -1 = until the end or the context is full; past "
                       "the context: until it is full");
  c->add_option("-p,--prompt", a->prompt, "Prompt text (also: the words after the model, or standard input)");
  c->add_option("-f,--file", a->prompt_file, "Read the prompt from a file (- for standard input)");
  c->add_option("--stop", a->stop, "Stop before this text (repeatable); it is not printed")->allow_extra_args(false);
  c->add_flag("--no-bos", a->no_bos, "Do not add the beginning-of-sequence token");
  c->add_flag("--no-parse-special", a->no_parse_special,
              "Read special-token text in the prompt (e.g. <|im_start|>) as plain text, not as those tokens");
  c->add_flag("--special", a->print_special, "Print the special tokens the model generates (as llama.cpp)");
  c->add_flag("-e,--escape", a->escape, "Read \\n, \\t, \\\\, \\xHH ... in the prompt as those characters");
  c->add_flag("--json", a->json, "Print one JSON object instead of streaming text");
  c->add_option("--grammar", a->grammar, "Constrain the output to this GBNF grammar (llama.cpp's format)");
  c->add_option("--grammar-file", a->grammar_file, "Constrain the output to the GBNF grammar in this file");
  c->add_option("--json-schema", a->json_schema, "Constrain the output to JSON matching this JSON Schema");
  c->add_option("--json-schema-file", a->json_schema_file, "Constrain the output to the JSON Schema in this file");
  c->add_flag("-i,--interactive,--conversation", a->interactive,
              "Chat with the model instead (as `ternion chat`; also -cnv)");
  c->add_flag("--no-conversation", a->no_conversation, "Do not chat (the default; also -no-cnv)");
  add_chat_flags(c, *a);
  c->add_flag("--execute", a->execute,
              "Run the code of the reply in the sandbox and let the model fix it (as `ternion agent`)");
  c->add_option("--max-rounds", a->max_rounds, "With --execute: replies the model may give (default 3)");
  add_sandbox_flags(c, a->sandbox);
  return [a, c] { return run(*a, *c); };
}

}  // namespace ternion::cli
