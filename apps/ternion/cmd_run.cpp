// `ternion run`: generate text from a prompt, streaming it to stdout.
#include <chrono>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>

#include "commands.h"
#include "ternion/convert/load_model.h"
#include "ternion/core/error.h"
#include "ternion/core/param_rules.h"
#include "ternion/engine/generate.h"

namespace ternion::cli {

namespace {

struct RunArgs {
  std::string model_flag, model_pos, prompt, prompt_file;
  int32_t n_tokens = 128;
  float temperature = 0.8f;
  int32_t top_k = 40;
  float top_p = 0.95f;
  float min_p = 0.05f;
  float repeat_penalty = 1.0f;
  int32_t repeat_last_n = 64;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  int64_t seed = -1;
  int threads = 0;
  int64_t ctx_size = 0;
  bool no_bos = false;
  bool json = false;
  bool ignore_eos = false;
  bool special = false;
  bool mmap = false;
  bool hugetlb = false;
  std::string kv_type = "f16";
};

// A model folder's generation_config.json fills in the sampling settings not given on the command line.
void apply_generation_defaults(const GenerationDefaults& g, const CLI::App& cmd, SamplingParams& s) {
  const auto unset = [&](const char* flag) { return cmd.count(flag) == 0; };
  if (unset("--temp")) {
    if (g.do_sample == false) {
      s.temperature = 0.0f;
    } else if (g.temperature) {
      s.temperature = *g.temperature;
    }
  }
  if (unset("--top-k") && g.top_k) s.top_k = *g.top_k;
  if (unset("--top-p") && g.top_p) s.top_p = *g.top_p;
  if (unset("--min-p") && g.min_p) s.min_p = *g.min_p;
  if (unset("--repeat-penalty") && g.repetition_penalty) s.repeat_penalty = *g.repetition_penalty;
}

int run(const RunArgs& a, const CLI::App& cmd) {
  const std::string path = pick_model_path(a.model_flag, a.model_pos);
  if (!a.prompt.empty() && !a.prompt_file.empty()) throw Error("give the prompt with -p or -f, not both");
  const std::string prompt = a.prompt_file.empty() ? a.prompt : read_text_file(a.prompt_file);
  if (prompt.empty()) throw Error("the prompt is empty; give one with -p TEXT or -f FILE");
  constexpr auto kCli = ParamSurface::kCommandLine;
  check_param(params::kMaxTokens, a.n_tokens, kCli);
  check_threads(a.threads, kCli);
  check_param(params::kCtxSize, static_cast<double>(a.ctx_size), kCli);
  check_param(params::kSeed, static_cast<double>(a.seed), kCli);

  GenerateOptions opt;
  opt.max_tokens = a.n_tokens;
  if (a.no_bos) opt.add_bos = false;
  opt.ignore_eos = a.ignore_eos;
  opt.parse_special = a.special;
  opt.sampling.temperature = a.temperature;
  opt.sampling.top_k = a.top_k;
  opt.sampling.top_p = a.top_p;
  opt.sampling.min_p = a.min_p;
  opt.sampling.repeat_penalty = a.repeat_penalty;
  opt.sampling.repeat_last_n = a.repeat_last_n;
  opt.sampling.presence_penalty = a.presence_penalty;
  opt.sampling.frequency_penalty = a.frequency_penalty;
  opt.sampling.seed = a.seed >= 0 ? static_cast<uint64_t>(a.seed) : std::random_device{}();
  opt.sampling.validate(kCli);

  const auto t0 = std::chrono::steady_clock::now();
  const auto model = load_model(path, {!a.mmap, a.hugetlb});
  apply_generation_defaults(model->generation_defaults(), cmd, opt.sampling);
  try {
    opt.sampling.validate(kCli);
  } catch (const Error& e) {
    throw Error(path + ": generation_config.json: " + e.what());
  }
  ContextOptions copt;
  copt.n_ctx = a.ctx_size;
  copt.hugetlb = a.hugetlb;
  copt.kv_type = parse_kv_type(a.kv_type);
  Generator gen(*model, copt, a.threads > 0 ? a.threads : default_thread_count());
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
  c->add_option("-m,--model", a->model_flag, "GGUF model file or HuggingFace model folder");
  c->add_option("model", a->model_pos, "GGUF model file or model folder (instead of -m)");
  c->add_option("-p,--prompt", a->prompt, "Prompt text");
  c->add_option("-f,--file", a->prompt_file, "Read the prompt from a file");
  c->add_option("-n,--tokens", a->n_tokens, "Most new tokens to generate (default 128)");
  c->add_option("--temp,--temperature", a->temperature,
                "Sampling temperature; 0 = greedy (default 0.8, or a model folder's generation_config.json)");
  c->add_option("--top-k", a->top_k, "Keep the k most likely tokens; 0 = off (default 40)");
  c->add_option("--top-p", a->top_p, "Nucleus sampling threshold; 1 = off (default 0.95)");
  c->add_option("--min-p", a->min_p, "Drop tokens below min-p × the top probability; 0 = off (default 0.05)");
  c->add_option("--repeat-penalty", a->repeat_penalty, "Penalty for recently seen tokens; 1 = off (default 1)");
  c->add_option("--repeat-last-n", a->repeat_last_n, "Window of the repeat penalty (default 64)");
  c->add_option("--presence-penalty", a->presence_penalty,
                "Subtracted once from tokens seen in the window (default 0)");
  c->add_option("--frequency-penalty", a->frequency_penalty, "Subtracted per occurrence in the window (default 0)");
  c->add_option("-s,--seed", a->seed, "Random seed (default: random; printed with --json)");
  c->add_option("-t,--threads", a->threads, "Worker threads (default: all cores)");
  c->add_option("-c,--ctx-size", a->ctx_size, "KV cache size in tokens (default: the model's, at most 4096)");
  c->add_flag("--no-bos", a->no_bos, "Do not add the beginning-of-sequence token");
  c->add_flag("--ignore-eos", a->ignore_eos, "Keep generating past end-of-generation tokens");
  c->add_flag("--special", a->special, "Parse special-token text in the prompt (e.g. <|im_start|>)");
  c->add_flag("--json", a->json, "Print one JSON object instead of streaming text");
  c->add_flag("--mmap", a->mmap, kMmapHelp);
  c->add_flag("--hugetlb", a->hugetlb, kHugetlbHelp);
  c->add_option("--kv-type", a->kv_type, kKvTypeHelp);
  return [a, c] { return run(*a, *c); };
}

}  // namespace ternion::cli
