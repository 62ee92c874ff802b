// `ternion perplexity`: quality of a model (or of a quantization) on a text, with llama-perplexity's protocol.
#include <cstdio>
#include <memory>

#include "commands.h"
#include "ternion/convert/load_model.h"
#include "ternion/core/error.h"
#include "ternion/core/param_rules.h"
#include "ternion/engine/perplexity.h"

namespace ternion::cli {

namespace {

struct PplArgs {
  std::string model_flag, model_pos, file;
  int64_t ctx = 512;
  int64_t chunks = 0;
  int threads = 0;
  bool mmap = false;
  std::string kv_type = "f16";
  LoraArgs lora;
  DeviceArgs device;
};

int perplexity_cmd(const PplArgs& a) {
  const std::string path = pick_model_path(a.model_flag, a.model_pos);
  if (a.file.empty()) throw Error("no text given; use -f FILE");
  if (a.ctx < 4) throw Error("-c/--ctx-size must be at least 4, got " + std::to_string(a.ctx));
  check_threads(a.threads, ParamSurface::kCommandLine);
  const DeviceArgs device = checked_device_args(a.device);
  const std::string text = read_text_file(a.file);
  const auto model = load_model(path, {.resident = !a.mmap});
  ContextOptions copt;
  copt.n_ctx = a.ctx;
  copt.n_batch = a.ctx;
  copt.logits_all = true;
  copt.kv_type = parse_kv_type(a.kv_type);
  copt.lora = load_lora_adapters(lora_files(a.lora), *model);
  copt.device = device.device;
  copt.n_gpu_layers = device.gpu_layers;
  Generator gen(*model, copt, a.threads > 0 ? a.threads : default_thread_count());
  const PerplexityResult r = perplexity(gen, text, a.ctx, a.chunks, [](int64_t chunk, double running) {
    std::fprintf(stderr, "[%lld]%.4f,", static_cast<long long>(chunk), running);
    if (chunk % 16 == 0) std::fprintf(stderr, "\n");
  });
  std::fprintf(stderr, "\n");
  std::printf("PPL = %.4f +/- %.5f (%lld chunks of %lld tokens, %lld scored)\n", r.ppl, r.stderr_ppl,
              static_cast<long long>(r.n_chunks), static_cast<long long>(a.ctx),
              static_cast<long long>(r.scored_tokens));
  return 0;
}

}  // namespace

Runner add_perplexity_command(CLI::App& app) {
  auto a = std::make_shared<PplArgs>();
  CLI::App* c = app.add_subcommand("perplexity", "Perplexity of a model on a text file");
  c->add_option("-m,--model", a->model_flag, "GGUF model file or HuggingFace model folder");
  c->add_option("model", a->model_pos, "GGUF model file or model folder (instead of -m)");
  c->add_option("-f,--file", a->file, "Text file");
  c->add_option("-c,--ctx-size", a->ctx, "Tokens per chunk (default 512)");
  c->add_option("--chunks", a->chunks, "Score at most this many chunks (default: all)");
  c->add_option("-t,--threads", a->threads, "Worker threads (default: all cores)");
  c->add_option("--kv-type", a->kv_type, kKvTypeHelp);
  c->add_flag("--mmap", a->mmap, kMmapHelp);
  add_lora_flags(c, a->lora);
  add_device_flags(c, a->device);
  return [a] { return perplexity_cmd(*a); };
}

}  // namespace ternion::cli
