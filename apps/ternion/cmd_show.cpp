// `ternion show MODEL` (a readable summary, as `ollama show`) and `ternion list` (the models in a folder).
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "ternion/convert/hf_checkpoint.h"
#include "ternion/convert/model_summary.h"
#include "ternion/core/error.h"

namespace ternion::cli {

namespace {

namespace fs = std::filesystem;

// Lines of the chat template shown by `show` (all with --template).
constexpr size_t kTemplateLines = 8;

std::string human_bytes(uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  size_t u = 0;
  while (v >= 1024 && u + 1 < std::size(units)) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

std::string template_excerpt(const std::string& text, bool whole) {
  std::string out;
  size_t start = 0, lines = 0;
  while (start < text.size()) {
    const size_t end = std::min(text.find('\n', start), text.size());
    if (!whole && lines == kTemplateLines) {
      out += "    ... (" + std::to_string(std::count(text.begin() + static_cast<long>(start), text.end(), '\n') + 1) +
             " more lines; --template shows them)\n";
      break;
    }
    out += "    " + text.substr(start, end - start) + "\n";
    start = end + 1;
    ++lines;
  }
  return out;
}

struct ShowArgs {
  std::string model_flag, model_pos;
  bool whole_template = false;
};

int show(const ShowArgs& a) {
  const ModelSummary s = summarize_model(pick_model_path(a.model_flag, a.model_pos));
  std::string out = "model: " + s.name + "\n";
  const auto field = [&](const char* name, const std::string& value) {
    if (!value.empty() && value != "0")
      out += "  " + std::string(name) + std::string(16 - std::string(name).size(), ' ') + value + "\n";
  };
  field("path", s.path + (s.folder ? " (HuggingFace folder, run in place)" : ""));
  field("architecture", s.architecture);
  field("parameters", format_param_count(s.n_params) + " (" + std::to_string(s.n_params) + ")");
  if (s.n_expert > 0) {
    field("experts", std::to_string(s.n_expert) + ", " + std::to_string(s.n_expert_used) + " per token");
    field("active",
          format_param_count(s.n_active_params) + " parameters per token (" + std::to_string(s.n_active_params) + ")");
  }
  field("quantization", s.quantization);
  field("size", human_bytes(s.n_bytes));
  field("context", std::to_string(s.context_length));
  field("embedding", std::to_string(s.n_embd));
  field("layers", std::to_string(s.n_layer));
  if (s.n_head > 0)
    field("heads", std::to_string(s.n_head) + " (" + std::to_string(s.n_head_kv) + " for keys and values)");
  field("vocabulary", std::to_string(s.n_vocab) + " tokens");
  field("bos / eos", s.bos_text.empty() && s.eos_text.empty() ? "" : s.bos_text + " / " + s.eos_text);
  if (s.licence.empty()) out += "  licence         (no general.license keys)\n";
  for (const auto& [key, value] : s.licence) field(key.c_str(), value);
  out += s.chat_template.empty() ? "  template        (none; chat uses ChatML)\n"
                                 : "  template\n" + template_excerpt(s.chat_template, a.whole_template);
  write_stdout(out);
  return 0;
}

struct ListArgs {
  std::string dir;
};

// The models under `dir`: GGUF files and HuggingFace folders, one level of subfolders deep (a folder per model).
std::vector<fs::path> find_models(const fs::path& dir) {
  std::vector<fs::path> found;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const fs::path& p = it->path();
    if (it->is_directory(ec) && is_hf_checkpoint(p.string())) {
      found.push_back(p);
      it.disable_recursion_pending();
    } else if (it->is_regular_file(ec) && p.extension() == ".gguf") {
      found.push_back(p);
    }
    if (it.depth() >= 1) it.disable_recursion_pending();
  }
  if (ec) throw Error(dir.string() + ": cannot list: " + ec.message());
  std::sort(found.begin(), found.end());
  return found;
}

int list(const ListArgs& a) {
  std::string dir = a.dir;
  if (dir.empty()) {
    const char* env = std::getenv("TERNION_MODELS");
    dir = env != nullptr && *env != '\0' ? env : fs::path(TERNION_DEFAULT_MODEL).parent_path().string();
  }
  if (!fs::is_directory(dir)) throw Error(dir + ": not a folder (give --models-dir DIR or set TERNION_MODELS)");
  char line[512];
  std::snprintf(line, sizeof line, "%-40s %-10s %-8s %-8s %10s\n", "NAME", "ARCH", "PARAMS", "TYPE", "SIZE");
  std::string out = line;
  for (const fs::path& p : find_models(dir)) {
    const std::string name = p.lexically_relative(dir).string();
    try {
      const ModelSummary s = summarize_model(p.string());
      std::snprintf(line, sizeof line, "%-40s %-10s %-8s %-8s %10s\n", name.c_str(), s.architecture.c_str(),
                    format_param_count(s.n_params).c_str(), s.quantization.c_str(), human_bytes(s.n_bytes).c_str());
      out += line;
    } catch (const Error& e) {
      std::string why = e.what();
      if (why.size() > 100) why = why.substr(0, 97) + "...";
      out += name + "  (cannot read: " + why + ")\n";
    }
  }
  write_stdout(out);
  return 0;
}

}  // namespace

Runner add_show_command(CLI::App& app) {
  auto a = std::make_shared<ShowArgs>();
  CLI::App* c = app.add_subcommand("show", "A model's architecture, size, quantization, context, template, licence");
  c->add_option("-m,--model", a->model_flag, "GGUF file or HuggingFace model folder");
  c->add_option("model", a->model_pos, "GGUF file or model folder (instead of -m)");
  c->add_flag("--template", a->whole_template, "Print the whole chat template");
  return [a] { return show(*a); };
}

Runner add_list_command(CLI::App& app) {
  auto a = std::make_shared<ListArgs>();
  CLI::App* c = app.add_subcommand("list", "The models in a folder: GGUF files and HuggingFace folders");
  c->add_option("--models-dir", a->dir, "Folder to list (default: $TERNION_MODELS, else the shipped models/)");
  return [a] { return list(*a); };
}

}  // namespace ternion::cli
