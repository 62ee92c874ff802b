#include "ternion/server/model_registry.h"
#include "ternion/convert/load_model.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <set>
#include <span>

#include "ternion/core/error.h"

namespace ternion::server {

namespace fs = std::filesystem;

namespace {

bool is_model_folder(const fs::path& p) { return fs::is_directory(p) && fs::exists(p / "config.json"); }

ModelSpec spec_for(const fs::path& p, const std::string& alias) {
  ModelSpec s;
  s.path = p.string();
  const std::string stem = fs::is_directory(p) ? p.filename().string() : p.stem().string();
  s.id = alias.empty() ? stem : alias;
  s.names = {s.id};
  if (alias.empty() && p.filename().string() != stem) s.names.push_back(p.filename().string());
  return s;
}

// True when `text` is one control token of the vocabulary.
bool is_control_token(const Tokenizer& tok, std::string_view text) {
  const std::vector<int32_t> ids = tok.encode(text, false, true);
  return ids.size() == 1 && tok.vocab().types[static_cast<size_t>(ids[0])] == TokenType::Control;
}

// The bytes of a file, or of a folder's files, and the latest modification time (seconds since the epoch).
void read_file_facts(const fs::path& p, uint64_t& bytes, int64_t& modified) {
  const auto seconds = [](fs::file_time_type t) {
    const auto sys = std::chrono::file_clock::to_sys(t);
    return std::chrono::duration_cast<std::chrono::seconds>(sys.time_since_epoch()).count();
  };
  std::error_code ec;
  bytes = 0;
  modified = 0;
  if (!fs::is_directory(p, ec)) {
    bytes = fs::file_size(p, ec);
    if (ec) bytes = 0;
    const auto t = fs::last_write_time(p, ec);
    if (!ec) modified = seconds(t);
    return;
  }
  for (const auto& e : fs::directory_iterator(p, ec)) {
    if (!e.is_regular_file(ec)) continue;
    const uintmax_t n = e.file_size(ec);
    if (!ec) bytes += n;
    const auto t = e.last_write_time(ec);
    if (!ec) modified = std::max<int64_t>(modified, seconds(t));
  }
}

}  // namespace

std::vector<ModelSpec> expand_model_specs(const std::vector<std::string>& args) {
  if (args.empty()) throw Error("no model given; use -m FILE (several -m, or a folder, serve several)");
  std::vector<ModelSpec> out;
  for (const std::string& arg : args) {
    std::string alias, path = arg;
    const size_t eq = arg.find('=');
    if (eq != std::string::npos && eq > 0 && !fs::exists(arg)) {
      alias = arg.substr(0, eq);
      path = arg.substr(eq + 1);
    }
    const fs::path p(path);
    if (!fs::exists(p)) throw Error(path + ": no such file or folder");
    if (!fs::is_directory(p) || is_model_folder(p)) {
      out.push_back(spec_for(p, alias));
      continue;
    }
    if (!alias.empty()) throw Error(arg + ": an alias names one model, not a folder of models");
    std::vector<fs::path> found;
    for (const auto& e : fs::directory_iterator(p)) {
      if ((e.is_regular_file() && e.path().extension() == ".gguf") || is_model_folder(e.path())) {
        found.push_back(e.path());
      }
    }
    if (found.empty()) throw Error(path + ": the folder holds no .gguf files or model folders");
    std::sort(found.begin(), found.end());
    for (const fs::path& f : found) out.push_back(spec_for(f, ""));
  }
  std::set<std::string> names;
  for (const ModelSpec& s : out) {
    for (const std::string& n : s.names) {
      if (!names.insert(n).second) throw Error("two models are named '" + n + "'; give one an alias with NAME=PATH");
    }
  }
  return out;
}

ServedModel::ServedModel(ModelSpec spec, const SchedulerOptions& options, Metrics& metrics, const LoadOptions& load)
    : spec_(std::move(spec)) {
  model_ = load_model(spec_.path, load);
  tokenizer_ = std::make_unique<Tokenizer>(model_->vocab());
  if (tokenizer_->n_vocab() != model_->hparams().n_vocab) {
    throw Error(spec_.path + ": the vocabulary has " + std::to_string(tokenizer_->n_vocab()) +
                " tokens but token_embd.weight has " + std::to_string(model_->hparams().n_vocab) + " rows");
  }
  const auto source = model_->gguf().get_string("tokenizer.chat_template");
  own_template_ = !spec_.chat_template.empty() || (source.has_value() && !source->empty());
  template_source_ = !spec_.chat_template.empty() ? spec_.chat_template
                     : own_template_              ? *source
                                                  : std::string(kFallbackChatTemplate);
  format_.emplace(*tokenizer_, template_source_);
  tool_format_ = detect_tool_call_format(template_source_);
  // R1-style templates strip "</think>" from past replies; others open "<think>" in the generation prompt.
  thinks_ =
      template_source_.find("<think>") != std::string::npos || template_source_.find("</think>") != std::string::npos;
  think_control_ = is_control_token(*tokenizer_, "<think>") && is_control_token(*tokenizer_, "</think>");
  summary_ = summarize_model(spec_.path);
  read_file_facts(spec_.path, file_bytes_, modified_);
  created_ =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  SchedulerOptions own = options;
  own.model_id = spec_.id;
  scheduler_ = std::make_unique<Scheduler>(*model_, *tokenizer_, own, metrics);
}

bool ServedModel::opens_thinking(const std::vector<int32_t>& prompt) const {
  constexpr size_t kTail = 16;  // <think> and the whitespace after it, even spelt in single characters
  const size_t n = std::min(kTail, prompt.size());
  std::string tail = tokenizer_->decode(std::span<const int32_t>(prompt).subspan(prompt.size() - n), false);
  while (!tail.empty() && std::isspace(static_cast<unsigned char>(tail.back()))) tail.pop_back();
  return tail.ends_with("<think>");
}

std::vector<int32_t> ServedModel::chat_prompt(const nlohmann::ordered_json& messages,
                                              const nlohmann::ordered_json& tools) const {
  std::lock_guard<std::mutex> lock(template_mu_);
  return format_->prompt(messages, tools);
}

ServedModel* ModelRegistry::find(const std::string& name) const {
  if (models_.empty()) return nullptr;
  if (name.empty()) return models_.front().get();
  constexpr std::string_view kLatest = ":latest";
  if (name.ends_with(kLatest) && name.size() > kLatest.size()) {
    if (ServedModel* m = find(name.substr(0, name.size() - kLatest.size()))) return m;
  }
  for (const auto& m : models_) {
    const auto& names = m->spec().names;
    if (std::find(names.begin(), names.end(), name) != names.end()) return m.get();
  }
  return nullptr;
}

}  // namespace ternion::server
