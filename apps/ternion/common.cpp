#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "commands.h"
#include "ternion/backend/cuda_backend.h"
#include "ternion/core/error.h"

namespace ternion::cli {

void add_lora_flags(CLI::App* c, LoraArgs& a) {
  c->add_option("--lora", a.files, "LoRA adapter (GGUF) applied at scale 1; repeatable");
  c->add_option("--lora-scaled", a.scaled, "LoRA adapter applied at a scale: --lora-scaled FILE SCALE; repeatable")
      ->type_size(2)
      ->expected(1, 1 << 20);
}

std::vector<std::pair<std::string, float>> lora_files(const LoraArgs& a) {
  std::vector<std::pair<std::string, float>> out;
  for (const std::string& f : a.files) out.emplace_back(f, 1.0f);
  if (a.scaled.size() % 2 != 0) throw Error("--lora-scaled takes a file and a scale: --lora-scaled FILE SCALE");
  for (size_t i = 0; i < a.scaled.size(); i += 2) {
    const std::string& f = a.scaled[i];
    char* end = nullptr;
    const float scale = std::strtof(a.scaled[i + 1].c_str(), &end);
    if (a.scaled[i + 1].empty() || *end != '\0' || !std::isfinite(scale)) {
      throw Error("--lora-scaled " + f + ": the scale must be a finite number, got '" + a.scaled[i + 1] + "'");
    }
    out.emplace_back(f, scale);
  }
  return out;
}

std::string pick_model_path(const std::string& flag, const std::string& positional) {
  if (!flag.empty() && !positional.empty() && flag != positional) {
    throw Error("two models given ('" + flag + "' and '" + positional + "'); give one with -m");
  }
  if (flag.empty() && positional.empty()) return TERNION_DEFAULT_MODEL;
  return flag.empty() ? positional : flag;
}

void spell_long_single_dash_flags(int argc, char** argv) {
  // The long names, in storage that outlives argv's use (string literals are not char*).
  static char kSystem[] = "--system", kConversation[] = "--conversation", kNoConversation[] = "--no-conversation",
              kGpuLayers[] = "--n-gpu-layers", kUbatch[] = "--ubatch-size", kParallel[] = "--parallel";
  const std::pair<std::string_view, char*> names[] = {
      {"-sys", kSystem},    {"-cnv", kConversation}, {"-no-cnv", kNoConversation},
      {"-ngl", kGpuLayers}, {"-ub", kUbatch},        {"-np", kParallel}};
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--") return;
    for (const auto& [short_name, long_name] : names) {
      if (arg == short_name) argv[i] = long_name;
    }
  }
}

namespace {

// A number with a fractional part ("0.7", ".9"): the edge engine's -t temperature or -p top-p.
bool looks_like_fraction(std::string_view s) {
  if (s.find('.') == std::string_view::npos) return false;
  char* end = nullptr;
  const std::string text(s);
  const double v = std::strtod(text.c_str(), &end);
  return end == text.c_str() + text.size() && v >= 0 && v <= 2;
}

}  // namespace

std::string short_flag_collision(int argc, char** argv) {
  if (argc < 2 || (std::string_view(argv[1]) != "run" && std::string_view(argv[1]) != "chat")) return "";
  for (int i = 2; i + 1 < argc; ++i) {
    const std::string_view arg = argv[i], value = argv[i + 1];
    if (arg == "--") break;
    if (arg == "-t" && looks_like_fraction(value)) {
      return "-t is the thread count, as in llama.cpp; for the temperature use --temp " + std::string(value);
    }
    if (arg == "-p" && looks_like_fraction(value)) {
      return "-p is the prompt, as in llama.cpp; for top-p use --top-p " + std::string(value) + " (or --prompt " +
             std::string(value) + " for that text)";
    }
  }
  return "";
}

namespace {

[[noreturn]] void stdout_failed(int err) {
  throw Error(std::string("cannot write to standard output: ") + std::strerror(err != 0 ? err : EIO));
}

}  // namespace

void write_stdout(std::string_view text) {
  errno = 0;
  if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() || std::fflush(stdout) != 0) {
    stdout_failed(errno);
  }
}

void finish_stdout() {
  errno = 0;
  if (std::fflush(stdout) != 0 || std::ferror(stdout) != 0) stdout_failed(errno);
}

DType parse_kv_type(const std::string& name) {
  if (name == "f16" || name == "F16") return DType::F16;
  if (name == "f32" || name == "F32") return DType::F32;
  throw Error("--kv-type must be f16 or f32, got '" + name + "'");
}

void add_device_flags(CLI::App* c, DeviceArgs& a) {
  c->add_option("--device", a.device, "Where the model runs: cpu (default), cuda or cuda:N (a build with CUDA)");
  c->add_option("--n-gpu-layers,--gpu-layers", a.gpu_layers,
                "Layers on the GPU, as llama.cpp's -ngl: 0 runs on the CPU, the model's layer count or more (e.g. 99) "
                "everything on the GPU; partial offload is not built yet");
}

void check_device_args(const DeviceArgs& a) {
  if (!a.device.empty()) check_device_name(a.device);
  if (a.gpu_layers < -1) throw Error("-ngl/--n-gpu-layers must be 0 or more, got " + std::to_string(a.gpu_layers));
  if (!cuda_built() && a.device.starts_with("cuda")) {
    throw Error("--device " + a.device + ": this build has no CUDA; configure with -DTERNION_CUDA=ON to run on a GPU");
  }
}

DeviceArgs checked_device_args(DeviceArgs a) {
  check_device_args(a);
  if (!cuda_built() && a.gpu_layers > 0 && a.device.empty()) {
    std::fprintf(stderr,
                 "note: -ngl %d ignored: this build has no CUDA (configure with -DTERNION_CUDA=ON); running "
                 "on the CPU\n",
                 a.gpu_layers);
    a.gpu_layers = -1;
  }
  return a;
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open: " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw Error(path + ": read error");
  return ss.str();
}

}  // namespace ternion::cli
