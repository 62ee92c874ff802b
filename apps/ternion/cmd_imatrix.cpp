// `ternion imatrix`: an importance matrix of a model over a calibration text, in llama-imatrix's file forms.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "ternion/convert/load_model.h"
#include "ternion/core/error.h"
#include "ternion/core/param_rules.h"
#include "ternion/engine/imatrix_collector.h"
#include "ternion/io/output_file.h"

namespace ternion::cli {

namespace {

struct ImatrixArgs {
  std::string model_flag, model_pos, file, output = "imatrix.gguf", format;
  std::vector<std::string> in_files;
  int64_t ctx = 512;
  int64_t chunks = 0;
  int threads = 0;
  bool process_output = false;
  bool mmap = false;
  std::string kv_type = "f16";
};

// gguf unless told, or unless the output is named *.dat (llama-imatrix's legacy form).
bool legacy_format(const ImatrixArgs& a) {
  if (a.format.empty()) return a.output.ends_with(".dat");
  if (a.format == "dat") return true;
  if (a.format == "gguf") return false;
  throw Error("--output-format: unknown format '" + a.format + "' (gguf, dat)");
}

int imatrix_cmd(const ImatrixArgs& a) {
  const std::string path = pick_model_path(a.model_flag, a.model_pos);
  if (a.file.empty()) throw Error("no calibration text given; use -f FILE");
  if (a.ctx < 16) throw Error("-c/--ctx-size must be at least 16 (matmuls of fewer tokens are not observed)");
  check_threads(a.threads, ParamSurface::kCommandLine);
  const bool legacy = legacy_format(a);
  std::vector<std::string> inputs = {path, a.file};
  Imatrix previous;
  for (const std::string& f : a.in_files) {
    previous.merge(read_imatrix(f));
    inputs.push_back(f);
  }
  check_output_is_not_an_input(a.output, inputs);  // before the work, not only when the writing starts
  const std::string text = read_text_file(a.file);
  const auto model = load_model(path, {.resident = !a.mmap});
  ContextOptions copt;
  copt.n_ctx = a.ctx;
  copt.n_batch = a.ctx;
  copt.logits_all = true;
  copt.kv_type = parse_kv_type(a.kv_type);
  Generator gen(*model, copt, a.threads > 0 ? a.threads : default_thread_count());
  ImatrixOptions o;
  o.n_ctx = a.ctx;
  o.max_chunks = a.chunks;
  o.process_output = a.process_output;
  o.dataset = a.file;
  ImatrixResult r = compute_imatrix(gen, *model, text, o, [](int64_t chunk, double running) {
    std::fprintf(stderr, "[%lld]%.4f,", static_cast<long long>(chunk), running);
    if (chunk % 16 == 0) std::fprintf(stderr, "\n");
  });
  std::fprintf(stderr, "\n");
  r.imatrix.merge(previous);
  if (legacy) {
    write_imatrix_dat(r.imatrix, a.output, inputs);
  } else {
    write_imatrix_gguf(r.imatrix, a.output, inputs);
  }
  std::printf("wrote %s: %zu matrices over %lld chunks of %lld tokens (PPL = %.4f +/- %.5f)\n", a.output.c_str(),
              r.imatrix.entries.size(), static_cast<long long>(r.imatrix.chunk_count), static_cast<long long>(a.ctx),
              r.perplexity.ppl, r.perplexity.stderr_ppl);
  return 0;
}

}  // namespace

Runner add_imatrix_command(CLI::App& app) {
  auto a = std::make_shared<ImatrixArgs>();
  CLI::App* c = app.add_subcommand("imatrix", "Importance matrix of a model over a calibration text (for quantize)");
  c->add_option("-m,--model", a->model_flag, "GGUF model file or HuggingFace model folder");
  c->add_option("model", a->model_pos, "GGUF model file or model folder (instead of -m)");
  c->add_option("-f,--file", a->file, "Calibration text file");
  c->add_option("-o,--output-file", a->output, "Output file (default imatrix.gguf; *.dat: llama.cpp's legacy form)");
  c->add_option("--output-format", a->format, "gguf or dat (default: from the output's name)");
  c->add_option("--in-file", a->in_files, "Imatrix files to add to this one (repeatable)");
  c->add_option("-c,--ctx-size", a->ctx, "Tokens per chunk (default 512)");
  c->add_option("--chunks,--chunk", a->chunks, "Process at most this many chunks (default: all)");
  c->add_flag("--process-output", a->process_output, "Also collect the output projection");
  c->add_option("-t,--threads", a->threads, "Worker threads (default: all cores)");
  c->add_option("--kv-type", a->kv_type, kKvTypeHelp);
  c->add_flag("--mmap", a->mmap, kMmapHelp);
  return [a] { return imatrix_cmd(*a); };
}

}  // namespace ternion::cli
