// The models a server holds: each loaded once with its tokenizer, chat template and scheduler, found by the
// request's "model" (file stem, file name or alias).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "ternion/convert/model_summary.h"
#include "ternion/engine/chat.h"
#include "ternion/engine/tool_calls.h"
#include "ternion/model/model.h"
#include "ternion/server/metrics.h"
#include "ternion/server/scheduler.h"
#include "ternion/tokenizer/tokenizer.h"

namespace ternion::server {

// A model to serve: where it is and the names it answers to.
struct ModelSpec {
  std::string id;                  // the file stem, or the alias given as ALIAS=PATH
  std::string path;                // GGUF file or HuggingFace model folder
  std::vector<std::string> names;  // every name that picks it (id, file name)
  std::string chat_template;       // Jinja text overriding the model's own (serve --chat-template-file); "": its own
};

// Expands -m arguments: FILE, ALIAS=FILE, a model folder, or a folder of models (its *.gguf files and model
// sub-folders, sorted). Throws Error for a path that does not exist, an empty folder or a repeated name.
std::vector<ModelSpec> expand_model_specs(const std::vector<std::string>& args);

class ServedModel {
 public:
  // Loads the model (load_model with `load`) and starts its scheduler.
  ServedModel(ModelSpec spec, const SchedulerOptions& options, Metrics& metrics, const LoadOptions& load = {});

  const ModelSpec& spec() const { return spec_; }
  const std::string& id() const { return spec_.id; }
  const Model& model() const { return *model_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  Scheduler& scheduler() { return *scheduler_; }
  int64_t created() const { return created_; }
  bool has_own_chat_template() const { return own_template_; }
  const std::string& chat_template() const { return template_source_; }
  // What `ternion show` says of the model (architecture, parameters, quantization, context).
  const ModelSummary& summary() const { return summary_; }
  // Bytes and modification time of the file (a folder: of its files, the latest time), seconds since the epoch.
  uint64_t file_bytes() const { return file_bytes_; }
  int64_t modified() const { return modified_; }

  // How the template's model writes tool calls (kNone: it does not).
  ToolCallFormat tool_call_format() const { return tool_format_; }
  // The template shows a model that thinks in <think>…</think> before it answers.
  bool thinks() const { return thinks_; }
  // <think> and </think> are control tokens (dropped from text unless control tokens are printed).
  bool think_tags_are_control() const { return think_control_; }
  // The prompt ends with <think>: the template opened the thinking and the reply starts inside it.
  bool opens_thinking(const std::vector<int32_t>& prompt) const;

  // The chat template over `messages`, ending with the assistant's header, tokenized (special-token text read as
  // those tokens; BOS added when the vocabulary asks for it and the template did not write it). Throws Error
  // when the template fails (e.g. raise_exception for an unsupported role order).
  std::vector<int32_t> chat_prompt(const nlohmann::ordered_json& messages, const nlohmann::ordered_json& tools) const;

 private:
  ModelSpec spec_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::optional<ChatFormat> format_;
  bool own_template_ = false;
  std::string template_source_;
  ModelSummary summary_;
  uint64_t file_bytes_ = 0;
  int64_t modified_ = 0;
  ToolCallFormat tool_format_ = ToolCallFormat::kNone;
  bool thinks_ = false, think_control_ = false;
  mutable std::mutex template_mu_;  // rendering is not thread-safe
  int64_t created_ = 0;
  std::unique_ptr<Scheduler> scheduler_;  // last: its thread stops before the rest goes
};

class ModelRegistry {
 public:
  void add(std::unique_ptr<ServedModel> m) { models_.push_back(std::move(m)); }
  // The model a request names (Ollama's NAME:latest is NAME); an empty name picks the first. Null when none
  // matches.
  ServedModel* find(const std::string& name) const;
  const std::vector<std::unique_ptr<ServedModel>>& all() const { return models_; }
  void clear() { models_.clear(); }

 private:
  std::vector<std::unique_ptr<ServedModel>> models_;
};

}  // namespace ternion::server
