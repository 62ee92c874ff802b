// `ternion kld`: KL divergence and top-token agreement of a model against a reference model on a text.
#include <cstdio>
#include <memory>

#include "commands.h"
#include "ternion/convert/load_model.h"
#include "ternion/core/error.h"
#include "ternion/core/param_rules.h"
#include "ternion/core/thread_pool.h"
#include "ternion/engine/kld.h"

namespace ternion::cli {

namespace {

struct KldArgs {
  std::string model, reference, file;
  int64_t ctx = 512;
  int64_t chunks = 0;
  int threads = 0;
};

int kld_cmd(const KldArgs& a) {
  if (a.model.empty()) throw Error("no model given; use -m FILE");
  if (a.reference.empty()) throw Error("no reference model given; use --reference FILE");
  if (a.file.empty()) throw Error("no text given; use -f FILE");
  if (a.ctx < 4) throw Error("-c/--ctx-size must be at least 4, got " + std::to_string(a.ctx));
  check_threads(a.threads, ParamSurface::kCommandLine);
  const std::string text = read_text_file(a.file);
  const auto model = load_model(a.model);
  const auto reference = load_model(a.reference);
  ContextOptions copt;
  copt.n_ctx = a.ctx;
  copt.n_batch = a.ctx;
  copt.logits_all = true;
  const int threads = a.threads > 0 ? a.threads : default_thread_count();
  Generator gen(*model, copt, threads);
  Generator ref(*reference, copt, threads);
  const KldResult r = kl_divergence(gen, ref, text, a.ctx, a.chunks, [](int64_t chunk, double kld) {
    std::fprintf(stderr, "[%lld]%.6f,", static_cast<long long>(chunk), kld);
    if (chunk % 12 == 0) std::fprintf(stderr, "\n");
  });
  std::fprintf(stderr, "\n");
  std::printf("chunks: %lld of %lld tokens, %lld positions scored\n", static_cast<long long>(r.n_chunks),
              static_cast<long long>(a.ctx), static_cast<long long>(r.n_tokens));
  std::printf("PPL(model)            %10.4f\n", r.ppl);
  std::printf("PPL(reference)        %10.4f\n", r.ppl_reference);
  std::printf("mean ln(PPL/PPL_ref)  %10.6f\n", r.mean_ln_ppl_ratio);
  std::printf("mean KLD              %10.6f +/- %.6f\n", r.mean_kld, r.kld_stderr);
  std::printf("max KLD               %10.6f\n", r.max_kld);
  std::printf("99.0%% KLD             %10.6f\n", r.kld_p99);
  std::printf("90.0%% KLD             %10.6f\n", r.kld_p90);
  std::printf("median KLD            %10.6f\n", r.kld_median);
  std::printf("same top token        %9.3f %%\n", 100.0 * r.same_top);
  std::printf("mean delta p          %9.3f %%\n", 100.0 * r.mean_delta_p);
  std::printf("RMS delta p           %9.3f %%\n", 100.0 * r.rms_delta_p);
  return 0;
}

}  // namespace

Runner add_kld_command(CLI::App& app) {
  auto a = std::make_shared<KldArgs>();
  CLI::App* c = app.add_subcommand("kld", "KL divergence of a model's token distributions from a reference model's");
  c->add_option("-m,--model", a->model, "Model under test (e.g. a quantization)");
  c->add_option("--reference", a->reference, "Reference model (e.g. the F16 or F32 original)");
  c->add_option("-f,--file", a->file, "Text file");
  c->add_option("-c,--ctx-size", a->ctx, "Tokens per chunk (default 512)");
  c->add_option("--chunks", a->chunks, "Score at most this many chunks (default: all)");
  c->add_option("-t,--threads", a->threads, "Worker threads (default: all cores)");
  return [a] { return kld_cmd(*a); };
}

}  // namespace ternion::cli
