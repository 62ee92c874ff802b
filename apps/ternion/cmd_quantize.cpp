// `ternion quantize IN.gguf OUT.gguf TYPE [--imatrix FILE]`: a model in another file type (Q8_0 ... TQ1_0, or a
// mix such as Q4_K_M), optionally weighted by an importance matrix, with a progress bar on stderr and a summary.
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "ternion/core/error.h"
#include "ternion/core/param_rules.h"
#include "ternion/core/thread_pool.h"
#include "ternion/model/quantize.h"

namespace ternion::cli {

namespace {

struct QuantizeArgs {
  std::string input, output, type;
  int threads = 0;
  bool allow_requantize = false;
  bool pure = false;
  bool ternary_absmean = false;
  bool quiet = false;
  std::vector<std::string> keep;  // PATTERN=TYPE
  std::string imatrix;
  std::vector<std::string> include_weights, exclude_weights;
};

TensorTypeRule parse_rule(const std::string& s) {
  const auto eq = s.rfind('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == s.size()) {
    throw Error("--keep-tensor-type wants PATTERN=TYPE, got '" + s + "'");
  }
  const std::string type_name = s.substr(eq + 1);
  const auto type = weight_type_from_name(type_name);
  if (!type) throw Error("--keep-tensor-type: unknown tensor type '" + type_name + "'");
  return TensorTypeRule{s.substr(0, eq), *type};
}

std::string type_list() {
  std::string s;
  for (const auto& ft : quant_file_types()) s += "\n  " + std::string(ft.name) + "  " + std::string(ft.description);
  return s;
}

void draw_progress(const QuantizeProgress& p, bool tty) {
  constexpr int kWidth = 30;
  const auto done = static_cast<int>(kWidth * p.index / p.count);
  std::string bar(static_cast<size_t>(done), '=');
  bar.resize(kWidth, ' ');
  const std::string types = std::string(dtype_info(p.from).name) + " -> " + std::string(dtype_info(p.to).name);
  if (tty) {
    std::fprintf(stderr, "\r[%s] %3zu/%zu %-32.32s %-16s", bar.c_str(), p.index, p.count, p.name.c_str(),
                 types.c_str());
    if (p.index == p.count) std::fprintf(stderr, "\n");
  } else {
    std::fprintf(stderr, "[%3zu/%zu] %s %s\n", p.index, p.count, p.name.c_str(), types.c_str());
  }
  std::fflush(stderr);
}

int quantize_cmd(const QuantizeArgs& a) {
  check_threads(a.threads, ParamSurface::kCommandLine);
  QuantizeOptions o;
  o.file_type = std::string(quant_file_type(a.type).name);
  o.n_threads = a.threads > 0 ? a.threads : default_thread_count();
  o.allow_requantize = a.allow_requantize;
  o.pure = a.pure;
  o.ternary_absmean = a.ternary_absmean;
  for (const auto& k : a.keep) o.tensor_types.push_back(parse_rule(k));
  o.imatrix_file = a.imatrix;
  o.imatrix_include = a.include_weights;
  o.imatrix_exclude = a.exclude_weights;
  const bool tty = ::isatty(STDERR_FILENO) == 1;
  const QuantizeReport r = quantize_model(a.input, a.output, o, [&](const QuantizeProgress& p) {
    if (!a.quiet) draw_progress(p, tty);
  });
  for (const auto& note : r.notes) std::fprintf(stderr, "note: %s\n", note.c_str());
  const std::string with_imatrix = a.imatrix.empty() ? "" : " (" + std::to_string(r.n_imatrix) + " with the imatrix)";
  std::printf("%s: %zu tensors, %zu converted%s, %zu fell back; %.2f MiB -> %.2f MiB\n", a.output.c_str(), r.n_tensors,
              r.n_quantized, with_imatrix.c_str(), r.n_fallback, static_cast<double>(r.bytes_in) / 1048576.0,
              static_cast<double>(r.bytes_out) / 1048576.0);
  return 0;
}

}  // namespace

Runner add_quantize_command(CLI::App& app) {
  auto a = std::make_shared<QuantizeArgs>();
  CLI::App* c = app.add_subcommand("quantize", "Write a model in another quantization type");
  c->add_option("input", a->input, "Input GGUF file")->required();
  c->add_option("output", a->output, "Output GGUF file")->required();
  c->add_option("type", a->type, "Target type:" + type_list())->required();
  c->add_option("-t,--threads", a->threads, "Worker threads (default: all cores)");
  c->add_flag("--allow-requantize", a->allow_requantize, "Accept input tensors that are already quantized");
  c->add_flag("--pure", a->pure, "No mix rules: every quantizable tensor gets the base type");
  c->add_flag("--ternary-absmean", a->ternary_absmean,
              "TQ1_0/TQ2_0: ternarize each matrix as a whole by its mean magnitude (BitNet b1.58), not block by block");
  c->add_option("--keep-tensor-type", a->keep, "PATTERN=TYPE: tensors whose name matches get TYPE (repeatable)");
  c->add_option("--imatrix", a->imatrix, "Importance matrix (ternion/llama imatrix, GGUF or legacy .dat)");
  c->add_option("--include-weights", a->include_weights,
                "Use only the imatrix entries whose name contains this (repeatable)");
  c->add_option("--exclude-weights", a->exclude_weights,
                "Ignore imatrix entries whose name contains this (repeatable)");
  c->add_flag("-q,--quiet", a->quiet, "No progress output");
  return [a] { return quantize_cmd(*a); };
}

}  // namespace ternion::cli
