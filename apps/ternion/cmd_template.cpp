// `ternion template`: renders a model's chat template (or a given .jinja file) over a conversation.
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "ternion/convert/model_summary.h"
#include "ternion/core/error.h"
#include "ternion/engine/chat.h"
#include "ternion/tokenizer/chat_template.h"

namespace ternion::cli {

namespace {

struct TemplateArgs {
  std::string model_flag, model_pos, messages_path, template_path, context_path, tools_path;
  bool add_generation_prompt = false;
};

nlohmann::ordered_json read_json(const std::string& path, const char* what) {
  try {
    return nlohmann::ordered_json::parse(read_text_file(path));
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string(what) + " " + path + ": not valid JSON (" + e.what() + ")");
  }
}

int render_template(const TemplateArgs& a) {
  if (a.messages_path.empty() == a.context_path.empty()) {
    throw Error("template: give exactly one of --messages and --context");
  }
  std::string source, bos, eos;
  const bool need_model = a.template_path.empty() || a.context_path.empty();
  if (need_model && (a.template_path.empty() || !a.model_flag.empty() || !a.model_pos.empty())) {
    const std::string path = pick_model_path(a.model_flag, a.model_pos);
    // A GGUF file or a model folder, as every -m.
    const ModelSummary model = summarize_model(path);
    if (a.template_path.empty()) {
      // As chat does: ChatML for a model without a template of its own.
      if (model.chat_template.empty()) {
        std::fprintf(stderr, "note: the model has no chat template; using ChatML (--template FILE sets one)\n");
      }
      source = model.chat_template.empty() ? kFallbackChatTemplate : model.chat_template;
    }
    bos = model.bos_text;
    eos = model.eos_text;
  }
  if (!a.template_path.empty()) source = read_text_file(a.template_path);

  nlohmann::ordered_json context;
  if (!a.context_path.empty()) {
    context = read_json(a.context_path, "--context");
    if (!context.is_object()) throw Error("--context " + a.context_path + ": expected a JSON object");
  } else {
    nlohmann::ordered_json messages = read_json(a.messages_path, "--messages");
    if (messages.is_object() && messages.contains("messages")) messages = messages["messages"];
    if (!messages.is_array()) throw Error("--messages " + a.messages_path + ": expected a JSON array of messages");
    context = {{"messages", messages},
               {"add_generation_prompt", a.add_generation_prompt},
               {"bos_token", bos},
               {"eos_token", eos}};
    if (!a.tools_path.empty()) context["tools"] = read_json(a.tools_path, "--tools");
  }
  std::string out;
  try {
    out = ChatTemplate(source).render(context);
  } catch (const Error& e) {
    throw Error((a.template_path.empty() ? std::string("the model's chat template") : a.template_path) + ": " +
                e.what());
  }
  write_stdout(out);
  return 0;
}

}  // namespace

Runner add_template_command(CLI::App& app) {
  auto a = std::make_shared<TemplateArgs>();
  CLI::App* c = app.add_subcommand("template", "Render the model's chat template over a conversation");
  c->add_option("-m,--model", a->model_flag,
                "GGUF file or HuggingFace model folder (its chat template, BOS and EOS texts)");
  c->add_option("model", a->model_pos, "GGUF file or model folder (instead of -m)");
  c->add_option("--messages", a->messages_path, "JSON file: an array of {role, content} messages");
  c->add_flag("--add-generation-prompt", a->add_generation_prompt, "End with the assistant turn's header");
  c->add_option("--template", a->template_path, "Jinja file to use instead of the model's template");
  c->add_option("--tools", a->tools_path, "JSON file: the tools array passed to the template");
  c->add_option("--context", a->context_path,
                "JSON file: the whole template context (messages, bos_token, ...) instead of --messages");
  return [a] { return render_template(*a); };
}

}  // namespace ternion::cli
