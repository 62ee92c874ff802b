#include "generation_args.h"

#include <cstdio>
#include <filesystem>
#include <random>

#include "commands.h"
#include "progress.h"
#include "ternion/convert/load_model.h"
#include "ternion/core/error.h"
#include "ternion/core/param_rules.h"

namespace ternion::cli {

namespace {

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

}  // namespace

void add_generation_flags(CLI::App* c, GenerationArgs& a, const char* tokens_help) {
  c->add_option("-m,--model", a.model_flag,
                std::string("GGUF model file or HuggingFace model folder (default: ") + TERNION_DEFAULT_MODEL + ")");
  c->add_option("model", a.positional, "The model (instead of -m); for run, then the prompt's words");
  c->add_option("-n,--tokens,--n-predict", a.n_tokens, tokens_help);
  c->add_option("--temp,--temperature", a.temperature,
                "Sampling temperature; 0 = greedy (default 0.8, or a model folder's generation_config.json)");
  c->add_option("--top-k,--top_k", a.top_k, "Keep the k most likely tokens; 0 = off (default 40)");
  c->add_option("--top-p,--top_p", a.top_p, "Nucleus sampling threshold; 1 = off (default 0.95)");
  c->add_option("--min-p", a.min_p, "Drop tokens below min-p × the top probability; 0 = off (default 0.05)");
  c->add_option("--repeat-penalty", a.repeat_penalty, "Penalty for recently seen tokens; 1 = off (default 1)");
  c->add_option("--repeat-last-n", a.repeat_last_n, "Window of the repeat penalty (default 64)");
  c->add_option("--presence-penalty", a.presence_penalty, "Subtracted once from tokens seen in the window (default 0)");
  c->add_option("--frequency-penalty", a.frequency_penalty, "Subtracted per occurrence in the window (default 0)");
  c->add_option("-s,--seed", a.seed, "Random seed (default: random; printed with --json)");
  c->add_option("-t,--threads", a.threads, "Worker threads (default: all cores)");
  c->add_option("-c,--ctx-size", a.ctx_size, "KV cache size in tokens (default: the model's, at most 4096)");
  c->add_flag("--ignore-eos", a.ignore_eos, "Keep generating past end-of-generation tokens");
  c->add_flag("--mmap", a.mmap, kMmapHelp);
  c->add_flag("--hugetlb", a.hugetlb, kHugetlbHelp);
  c->add_option("--kv-type", a.kv_type, kKvTypeHelp);
  c->add_option("-b,--batch-size", a.batch, "Prompt tokens per forward pass (default 512)");
  c->add_option("--ubatch-size", a.ubatch, "The same as -b: one batch size here (also -ub)");
  add_device_flags(c, a.device);
  c->add_flag("--jinja", a.jinja, "Accepted for llama.cpp: chat templates always run as Jinja here");
  add_lora_flags(c, a.lora);
}

void add_chat_flags(CLI::App* c, GenerationArgs& a) {
  c->add_option("--system", a.system, "System prompt of the conversation (also -sys)");
  c->add_option("--template", a.template_path, "Jinja chat template to use instead of the model's");
}

SamplingParams sampling_from_args(const GenerationArgs& a) {
  SamplingParams s;
  s.temperature = a.temperature;
  s.top_k = a.top_k;
  s.top_p = a.top_p;
  s.min_p = a.min_p;
  s.repeat_penalty = a.repeat_penalty;
  s.repeat_last_n = a.repeat_last_n;
  s.presence_penalty = a.presence_penalty;
  s.frequency_penalty = a.frequency_penalty;
  s.seed = a.seed >= 0 ? static_cast<uint64_t>(a.seed) : std::random_device{}();
  s.validate(ParamSurface::kCommandLine);
  return s;
}

void check_generation_args(const GenerationArgs& a) {
  constexpr auto kCli = ParamSurface::kCommandLine;
  check_threads(a.threads, kCli);
  check_param(params::kCtxSize, static_cast<double>(a.ctx_size), kCli);
  check_param(params::kSeed, static_cast<double>(a.seed), kCli);
  if (a.batch != 0) check_param(params::kBatchSize, static_cast<double>(a.batch), kCli);
  if (a.ubatch != 0) check_param(params::kBatchSize, static_cast<double>(a.ubatch), kCli);
  check_device_args(a.device);
}

std::string generation_model_path(const GenerationArgs& a) {
  if (a.model_flag.empty()) return pick_model_path("", a.positional.empty() ? "" : a.positional[0]);
  if (!a.positional.empty()) {
    const std::string& first = a.positional[0];
    std::error_code ec;
    const bool looks_like_model = first.ends_with(".gguf") || std::filesystem::is_regular_file(first, ec);
    if (looks_like_model) pick_model_path(a.model_flag, first);  // throws when they differ
  }
  return a.model_flag;
}

std::vector<std::string> prompt_words(const GenerationArgs& a) {
  if (a.positional.empty()) return {};
  generation_model_path(a);  // a second model given after -m is an error, not the prompt
  const bool first_is_model = a.model_flag.empty() || a.positional[0] == a.model_flag;
  return {a.positional.begin() + (first_is_model ? 1 : 0), a.positional.end()};
}

std::unique_ptr<Model> load_generation_model(const GenerationArgs& a, const CLI::App& cmd, SamplingParams& s) {
  const std::string path = generation_model_path(a);
  std::unique_ptr<Model> model;
  {
    ProgressBar bar("loading " + std::filesystem::path(path).filename().string());
    model = load_model(path, {!a.mmap, a.hugetlb}, [&bar](uint64_t done, uint64_t total) { bar.update(done, total); });
  }
  const int64_t trained = model->hparams().n_ctx_train;
  if (trained > 0 && a.ctx_size > trained) {
    std::fprintf(stderr,
                 "warning: -c %lld is beyond the model's trained context of %lld tokens; expect worse text "
                 "past it\n",
                 static_cast<long long>(a.ctx_size), static_cast<long long>(trained));
  }
  apply_generation_defaults(model->generation_defaults(), cmd, s);
  try {
    s.validate(ParamSurface::kCommandLine);
  } catch (const Error& e) {
    throw Error(path + ": generation_config.json: " + e.what());
  }
  return model;
}

ContextOptions context_options(const GenerationArgs& a, const Model& model) {
  ContextOptions copt;
  copt.lora = load_lora_adapters(lora_files(a.lora), model);
  copt.n_ctx = a.ctx_size;
  copt.hugetlb = a.hugetlb;
  copt.kv_type = parse_kv_type(a.kv_type);
  if (a.batch > 0 || a.ubatch > 0) copt.n_batch = a.ubatch > 0 ? a.ubatch : a.batch;
  const DeviceArgs d = checked_device_args(a.device);
  copt.device = d.device;
  copt.n_gpu_layers = d.gpu_layers;
  return copt;
}

int thread_count(const GenerationArgs& a) { return a.threads > 0 ? a.threads : default_thread_count(); }

}  // namespace ternion::cli
