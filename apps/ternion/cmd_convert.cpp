// `ternion convert`: a HuggingFace model folder (or a llama2.c checkpoint) -> a GGUF file, with a progress bar.
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "commands.h"
#include "ternion/convert/convert.h"
#include "ternion/convert/hf_checkpoint.h"
#include "ternion/convert/llama2c.h"
#include "ternion/core/error.h"
#include "ternion/core/thread_pool.h"
#include "ternion/model/quantize.h"
#include "ternion/quant/quant.h"

namespace ternion::cli {

namespace {

struct ConvertArgs {
  std::vector<std::string> paths;  // input, output
  std::string type = "f16";
  std::string from = "hf";
  std::string tokenizer;
  std::string lora, base;  // --lora: a PEFT adapter folder; --base: its base model's folder
};

// Every type a model can be converted to in this build, for messages.
std::string convertible_types() {
  std::string s;
  for (uint32_t id = 0; id < 64; ++id) {
    const auto info = dtype_info(id);
    if (!info) continue;
    try {
      check_convert_type(info->type);
    } catch (const Error&) {
      continue;
    }
    s += (s.empty() ? "" : ", ") + std::string(info->name);
  }
  return s;
}

DType parse_type(const std::string& name) {
  const auto type = weight_type_from_name(name);
  if (!type) throw Error("--type: unknown type '" + name + "' (convertible: " + convertible_types() + ")");
  try {
    check_convert_type(*type);
  } catch (const Error& e) {
    throw Error("--type: " + std::string(e.what()) + " (convertible: " + convertible_types() + ")");
  }
  return *type;
}

void draw_progress(size_t done, size_t total, const std::string& name, DType type) {
  constexpr size_t kWidth = 30;
  const size_t filled = total == 0 ? kWidth : done * kWidth / total;
  std::fprintf(stderr, "\r[%s%s] %zu/%zu %-40.40s %-6s", std::string(filled, '#').c_str(),
               std::string(kWidth - filled, '.').c_str(), done, total, name.c_str(),
               std::string(dtype_info(type).name).c_str());
  if (done == total) std::fprintf(stderr, "\n");
  std::fflush(stderr);
}

// A PEFT adapter folder -> a GGUF LoRA adapter (F32 tensors: the adapter is small and stays exact).
int convert_lora(const ConvertArgs& a) {
  if (a.paths.size() != 1) throw Error("give the output file: ternion convert --lora DIR [--base BASE] OUT.gguf");
  if (!a.tokenizer.empty() || a.from != "hf") throw Error("--lora takes neither --from nor --tokenizer");
  const ModelSource source = load_peft_adapter(a.lora, a.base);
  ConvertOptions options;
  options.type = DType::F32;
  const ConvertResult r = convert_to_gguf(source, a.paths[0], options);
  std::printf("wrote %s: a LoRA adapter of %zu tensors, %llu bytes\n", a.paths[0].c_str(), r.n_tensors,
              static_cast<unsigned long long>(r.file_bytes));
  return 0;
}

// The mix a type name asks for (Q4_K_M, Q3_K_L, ...: tensors of several types by llama-quantize's rules), or
// nullptr for a plain tensor type, which convert writes directly.
const QuantFileType* mix_of(std::string name) {
  for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const QuantFileType& ft : quant_file_types()) {
    if (ft.name == name && ft.name != dtype_info(ft.base).name) return &ft;
  }
  return nullptr;
}

// Removes a scratch file however the command ends.
struct ScratchFile {
  std::filesystem::path path;
  ~ScratchFile() {
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
};

int convert(const ConvertArgs& a) {
  if (!a.lora.empty()) return convert_lora(a);
  if (!a.base.empty()) throw Error("--base is for --lora (the adapter's base model folder)");
  if (a.paths.size() != 2) throw Error("give the input and the output file: ternion convert INPUT OUT.gguf");
  const std::string& input = a.paths[0];
  const std::string& output = a.paths[1];
  ConvertOptions options;
  options.type = parse_type(a.type);
  // A mix is written as llama.cpp users make it: the exact float weights first (F32, a scratch file beside the
  // output), then quantize's rules, so the file equals `convert --type f32` followed by `quantize`.
  const QuantFileType* mix = mix_of(a.type);
  std::optional<ScratchFile> scratch;
  std::string written = output;
  if (mix != nullptr) {
    options.type = DType::F32;
    const std::filesystem::path out(output);
    scratch.emplace(ScratchFile{out.parent_path() / ("." + out.filename().string() + ".f32.part")});
    written = scratch->path.string();
  }

  const auto t0 = std::chrono::steady_clock::now();
  ModelSource source;
  if (a.from == "hf") {
    if (!a.tokenizer.empty()) throw Error("--tokenizer is only for --from llama2c (a folder has its own tokenizer)");
    if (!is_hf_checkpoint(input)) {
      throw Error(input +
                  ": not a HuggingFace model folder (no config.json); for llama2.c checkpoints use --from llama2c");
    }
    source = load_hf_checkpoint(input);
  } else if (a.from == "llama2c") {
    if (a.tokenizer.empty()) throw Error("--from llama2c needs --tokenizer TOKENIZER.bin");
    source = load_llama2c_checkpoint(input, a.tokenizer);
  } else {
    throw Error("--from: unknown source format '" + a.from + "' (supported: hf, llama2c)");
  }

  const bool tty = ::isatty(STDERR_FILENO) != 0;
  const ConvertResult r =
      convert_to_gguf(source, written, options, [&](size_t done, size_t total, const std::string& name, DType type) {
        if (tty) draw_progress(done, total, name, type);
      });
  if (mix != nullptr) {
    QuantizeOptions q;
    q.file_type = std::string(mix->name);
    q.n_threads = default_thread_count();
    const QuantizeReport qr = quantize_model(written, output, q);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("wrote %s: %zu tensors as %s (%zu quantized), %llu bytes in %.1f s\n", output.c_str(), qr.n_tensors,
                std::string(mix->name).c_str(), qr.n_quantized, static_cast<unsigned long long>(qr.bytes_out), seconds);
    return 0;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::string counts;
  for (const auto& [type, n] : r.type_counts) {
    counts += (counts.empty() ? "" : ", ") + std::string(dtype_info(type).name) + " " + std::to_string(n);
  }
  std::printf("wrote %s: %zu tensors (%s), %llu bytes in %.1f s\n", output.c_str(), r.n_tensors, counts.c_str(),
              static_cast<unsigned long long>(r.file_bytes), seconds);
  return 0;
}

}  // namespace

Runner add_convert_command(CLI::App& app) {
  auto a = std::make_shared<ConvertArgs>();
  CLI::App* c = app.add_subcommand("convert", "Convert a HuggingFace model folder or a llama2.c checkpoint to GGUF");
  c->add_option("paths", a->paths, "INPUT OUT.gguf (INPUT: a model folder, or MODEL.bin with --from llama2c)")
      ->expected(1, 2);
  c->add_option("--type,--outtype", a->type,
                "Type of the 2-D weights: F32, F16, BF16, Q8_0, Q4_K_M, ... (case-insensitive; default F16)");
  c->add_option("--from", a->from, "Source format: hf (default) or llama2c");
  c->add_option("--tokenizer", a->tokenizer, "llama2.c tokenizer.bin (with --from llama2c)");
  c->add_option("--lora", a->lora, "A PEFT LoRA adapter folder to convert to a GGUF adapter (then give only OUT.gguf)");
  c->add_option("--base", a->base,
                "With --lora: the base model's folder (default: the adapter's base_model_name_or_path)");
  return [a] { return convert(*a); };
}

}  // namespace ternion::cli
