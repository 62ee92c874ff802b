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

#include "ternion/engine/chat.h"
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
  mutable std::mutex template_mu_;  // rendering is not thread-safe
  int64_t created_ = 0;
  std::unique_ptr<Scheduler> scheduler_;  // last: its thread stops before the rest goes
};

class ModelRegistry {
 public:
  void add(std::unique_ptr<ServedModel> m) { models_.push_back(std::move(m)); }
  // The model a request names; an empty name picks the first. Null when none matches.
  ServedModel* find(const std::string& name) const;
  const std::vector<std::unique_ptr<ServedModel>>& all() const { return models_; }
  void clear() { models_.clear(); }

 private:
  std::vector<std::unique_ptr<ServedModel>> models_;
};

}  // namespace ternion::server
