// `ternion export-lora`: LoRA adapters merged into a new GGUF (llama.cpp's llama-export-lora), which `quantize` then
// takes as any model.
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "commands.h"
#include "ternion/core/error.h"
#include "ternion/model/lora.h"
#include "ternion/model/quantize.h"

namespace ternion::cli {

namespace {

struct ExportLoraArgs {
  std::string model, output, type;
  LoraArgs lora;
};

int export_lora_cmd(const ExportLoraArgs& a) {
  if (a.model.empty()) throw Error("give the base model: -m BASE.gguf");
  if (a.output.empty()) throw Error("give the output file: -o OUT.gguf");
  std::optional<DType> type;
  if (!a.type.empty()) {
    type = weight_type_from_name(a.type);
    if (!type) throw Error("--type: unknown type '" + a.type + "'");
  }
  const auto files = lora_files(a.lora);
  const ExportLoraReport r = export_lora(a.model, files, a.output, type);
  std::printf("wrote %s: %zu tensors, %zu with %zu adapter%s merged\n", a.output.c_str(), r.n_tensors, r.n_merged,
              files.size(), files.size() == 1 ? "" : "s");
  return 0;
}

}  // namespace

Runner add_export_lora_command(CLI::App& app) {
  auto a = std::make_shared<ExportLoraArgs>();
  CLI::App* c = app.add_subcommand("export-lora", "Merge LoRA adapters into a new GGUF model");
  c->add_option("-m,--model", a->model, "Base model (GGUF)");
  c->add_option("-o,--output", a->output, "The merged model (GGUF)");
  c->add_option("--type", a->type,
                "Type of the merged matrices (F32, F16, BF16, Q8_0, ...; default: the base's float type, F16 for "
                "a quantized base)");
  add_lora_flags(c, a->lora);
  return [a] { return export_lora_cmd(*a); };
}

}  // namespace ternion::cli
