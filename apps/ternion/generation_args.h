// The flags `run` and `chat` share (model, sampling, context) and what they turn into.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "ternion/model/context.h"
#include "ternion/model/model.h"
#include "ternion/sampling/sampler.h"

namespace ternion::cli {

struct GenerationArgs {
  std::string model_flag;
  std::vector<std::string> positional;  // the model when -m is not given, then (run) the prompt's words
  int32_t n_tokens = 128;
  float temperature = 0.8f;
  int32_t top_k = 40;
  float top_p = 0.95f;
  float min_p = 0.05f;
  float repeat_penalty = 1.0f;
  int32_t repeat_last_n = 64;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  int64_t seed = -1;
  int threads = 0;
  int64_t ctx_size = 0;
  bool ignore_eos = false;
  bool mmap = false;
  bool hugetlb = false;
  std::string kv_type = "f16";
  int64_t batch = 0, ubatch = 0;  // -b, -ub: both set the one batch size
  DeviceArgs device;              // --device, -ngl
  bool jinja = false;             // --jinja: accepted (the template always runs as Jinja)
  LoraArgs lora;                  // --lora, --lora-scaled
  // chat only
  std::string system, template_path;
};

// Registers the model, sampling and context flags on `c`; `tokens_help` describes -n.
void add_generation_flags(CLI::App* c, GenerationArgs& a, const char* tokens_help);
// Registers chat's own flags: -sys/--system and --template.
void add_chat_flags(CLI::App* c, GenerationArgs& a);

// The sampling flags, validated (a seed of -1 becomes a random one).
SamplingParams sampling_from_args(const GenerationArgs& a);
// Checks the thread, context and seed flags.
void check_generation_args(const GenerationArgs& a);

// The model path: -m, else the first positional argument, else the model shipped in models/. With -m, a first
// positional that names a file or ends in .gguf is a second model (an error).
std::string generation_model_path(const GenerationArgs& a);
// The positional arguments after the model: run's prompt words (Ollama's `run MODEL PROMPT`).
std::vector<std::string> prompt_words(const GenerationArgs& a);

// Loads the model (-m or the positional path) and fills in what its generation_config.json sets and the command
// line did not.
std::unique_ptr<Model> load_generation_model(const GenerationArgs& a, const CLI::App& cmd, SamplingParams& s);
// The context flags, with the LoRA adapters loaded against `model`.
ContextOptions context_options(const GenerationArgs& a, const Model& model);
int thread_count(const GenerationArgs& a);

// The chat template: --template's file, else the model's, else ChatML (with a note).
std::string template_source(const GenerationArgs& a, const Model& model);

// `ternion chat`, also `run -i`: the chat loop over the flags above.
int run_chat(const GenerationArgs& a, const CLI::App& cmd);

}  // namespace ternion::cli
