// The subcommands of the `ternion` program. Each registers its flags on a CLI11 subcommand and returns
// the function that runs it; the functions throw ternion::Error for the user's mistakes.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>

#include <string_view>
#include <utility>
#include <vector>
#include "ternion/core/dtype.h"

namespace ternion::cli {

using Runner = std::function<int()>;

Runner add_run_command(CLI::App& app);
Runner add_chat_command(CLI::App& app);
Runner add_serve_command(CLI::App& app);
Runner add_info_command(CLI::App& app);
Runner add_perplexity_command(CLI::App& app);
Runner add_imatrix_command(CLI::App& app);
Runner add_tokenize_command(CLI::App& app);
Runner add_detokenize_command(CLI::App& app);
Runner add_template_command(CLI::App& app);
Runner add_synth_command(CLI::App& app);
Runner add_convert_command(CLI::App& app);
Runner add_bench_command(CLI::App& app);
Runner add_quantize_command(CLI::App& app);
Runner add_kld_command(CLI::App& app);
Runner add_exec_command(CLI::App& app);
Runner add_agent_command(CLI::App& app);
Runner add_show_command(CLI::App& app);
Runner add_list_command(CLI::App& app);
Runner add_export_lora_command(CLI::App& app);

// The model path from -m/--model or the first positional argument (the model shipped in models/ when
// neither is given); Error when both are given and differ.
std::string pick_model_path(const std::string& flag, const std::string& positional);

// llama.cpp's flags of several letters after one dash (-sys, -cnv), which CLI11 cannot declare, spelled as
// their long names.
void spell_long_single_dash_flags(int argc, char** argv);
// For run and chat: the error when -t or -p is given a fraction, as the edge engine's -t temperature and -p top-p
// would be (llama.cpp's meanings, threads and prompt, win); empty when there is none.
std::string short_flag_collision(int argc, char** argv);

// Help of the --mmap flag (load_model with resident = false).
inline constexpr const char* kMmapHelp =
    "Use the weights in place from the mapped file: less memory and a faster start, but no interleaved layouts "
    "(slower matmuls)";

// Help of the --hugetlb flag (LoadOptions::hugetlb, ContextOptions::hugetlb).
inline constexpr const char* kHugetlbHelp =
    "Put the weights and the KV cache in the huge pages reserved with sysctl vm.nr_hugepages (never reclaimed, "
    "migrated or scanned by the kernel: steadier per-token latency); fails if too few are free";

// Writes to stdout now (flushed); Error "cannot write to standard output: …" when it fails (a full disk, a closed
// pipe), so a command stops at its first lost byte.
void write_stdout(std::string_view text);
// Flushes stdout; Error as above when anything written to it since the start was lost. main() calls it after
// every command, so that no command ends with status 0 when its output did not arrive.
void finish_stdout();

// Help of the --kv-type flag (ContextOptions::kv_type).
inline constexpr const char* kKvTypeHelp =
    "KV cache type: f16 (default, llama.cpp's arithmetic) or f32 (twice the memory; attention computed without "
    "rounding, as transformers does)";
// The DType of a --kv-type value; Error naming the flag for anything but f16 and f32.
DType parse_kv_type(const std::string& name);

// Where a command's model runs: --device and llama.cpp's -ngl/--n-gpu-layers (ContextOptions::device and
// n_gpu_layers, which say how the two combine).
struct DeviceArgs {
  std::string device;       // empty: not given
  int32_t gpu_layers = -1;  // -1: not given
};
void add_device_flags(CLI::App* c, DeviceArgs& a);
// Checks the flags (before the model is loaded): a bad device name, or --device cuda in a build without CUDA, is an
// Error.
void check_device_args(const DeviceArgs& a);
// The flags to use: checked, and -ngl alone in a build without CUDA dropped with a note (the CPU runs it, as
// llama.cpp does without a GPU).
DeviceArgs checked_device_args(DeviceArgs a);

// Reads a whole text file; Error naming it when it cannot be read.
std::string read_text_file(const std::string& path);

// LoRA adapters as llama.cpp spells them: --lora FILE (scale 1) and --lora-scaled FILE SCALE, each repeatable.
struct LoraArgs {
  std::vector<std::string> files;
  std::vector<std::string> scaled;  // FILE SCALE pairs, flattened
};
void add_lora_flags(CLI::App* c, LoraArgs& a);
// (file, scale) for each adapter: --lora ones first, then --lora-scaled ones, each in command-line order.
std::vector<std::pair<std::string, float>> lora_files(const LoraArgs& a);

}  // namespace ternion::cli
