// `ternion synth`: a GGUF with deterministic random weights in a real model's shape, for benchmarks.
#include <cstdio>
#include <memory>

#include "commands.h"
#include "progress.h"
#include "ternion/core/error.h"
#include "ternion/model/quantize.h"
#include "ternion/model/synth.h"

namespace ternion::cli {

namespace {

struct SynthArgs {
  std::string shape, type = "Q8_0", vocab_from, output;
  uint64_t seed = 1;
};

int synth(const SynthArgs& a) {
  SynthOptions o;
  o.shape = a.shape;
  const auto type = weight_type_from_name(a.type);
  if (!type) throw Error("--type: unknown type '" + a.type + "' (e.g. F16, Q8_0, Q4_0, Q4_K_M; case-insensitive)");
  o.type = *type;
  o.vocab_from = a.vocab_from;
  o.output = a.output;
  o.seed = a.seed;
  {
    ProgressBar bar("synth " + a.shape);
    if (bar.enabled()) o.progress = [&bar](size_t done, size_t total) { bar.update(done, total); };
    write_synthetic_model(o);
  }
  std::fprintf(stderr, "wrote %s (%s, %s)\n", a.output.c_str(), a.shape.c_str(), a.type.c_str());
  return 0;
}

}  // namespace

Runner add_synth_command(CLI::App& app) {
  auto a = std::make_shared<SynthArgs>();
  CLI::App* c = app.add_subcommand("synth", "Write a model with random weights in a real model's shape");
  std::string names;
  for (const auto& s : synth_shapes()) names += (names.empty() ? "" : ", ") + std::string(s.name);
  c->add_option("--shape", a->shape, "Shape: " + names)->required();
  c->add_option("--type", a->type,
                "Weight type: F32, F16, BF16, Q8_0, Q4_0, Q4_K_M, ... (case-insensitive; default Q8_0)");
  c->add_option("--vocab-from", a->vocab_from, "GGUF whose vocabulary is copied")->required();
  c->add_option("-o,--output", a->output, "Output GGUF")->required();
  c->add_option("--seed", a->seed, "Random seed (default 1)");
  return [a] { return synth(*a); };
}

}  // namespace ternion::cli
