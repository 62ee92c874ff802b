// The generation endpoints' common path: a parsed request becomes a prompt of token ids, is queued on the
// model's scheduler and answered whole or streamed, in the shapes of the API it came through (answer.h).
#include <chrono>
#include <memory>
#include <string>

#include "answer.h"
#include "request_fields.h"
#include "routes.h"
#include "ternion/core/error.h"
#include "ternion/core/param_rules.h"
#include "ternion/server/connection.h"
#include "ternion/server/structured_output.h"

namespace ternion::server {

namespace {

using json = nlohmann::json;

const char* prompt_field(const ParsedRequest& p) {
  return p.endpoint == Endpoint::kChat || p.endpoint == Endpoint::kOllamaChat ? "messages" : "prompt";
}

// The tokens of the request's prompt number `k` (a completions request may give several).
std::vector<int32_t> prompt_tokens(const ParsedRequest& p, const ServedModel& m, size_t k) {
  const Tokenizer& tok = m.tokenizer();
  std::vector<int32_t> ids;
  const bool templated = !p.messages.is_null();
  const bool is_ids = k == 0 ? p.prompt_is_ids : p.more_prompts[k - 1].is_ids;
  try {
    if (templated) {
      ids = m.chat_prompt(p.messages, p.tools);
    } else if (is_ids) {
      ids = k == 0 ? p.prompt_ids : p.more_prompts[k - 1].ids;
    } else {
      ids = tokenize_prompt(tok, k == 0 ? p.prompt : p.more_prompts[k - 1].text, p.add_bos, p.parse_special);
    }
  } catch (const Error& e) {
    throw bad_request(std::string(templated ? "the chat template failed: " : "") + e.what(), prompt_field(p));
  }
  for (int32_t id : ids) {
    if (id < 0 || id >= tok.n_vocab()) {
      throw bad_request("token id " + std::to_string(id) + " is outside the vocabulary", "prompt");
    }
  }
  if (ids.empty()) throw bad_request("the prompt gives no tokens", "prompt");
  return ids;
}

// The most tokens a request may generate when it does not say: OpenAI's completions 16, /generate 128, chats
// and Ollama (num_predict -1: no limit) whatever the context has room for.
int64_t default_max_tokens(Endpoint e, int64_t room) {
  switch (e) {
    case Endpoint::kCompletion:
      return std::min<int64_t>(16, room);
    case Endpoint::kGenerate:
      return std::min<int64_t>(128, room);
    default:
      return room;
  }
}

// The spec of prompt `k`: its tokens and max_tokens filled in and checked against the context.
GenerationSpec make_spec(const ParsedRequest& p, const ServedModel& m, int64_t n_ctx, size_t k) {
  GenerationSpec spec = p.spec;
  spec.prompt = prompt_tokens(p, m, k);
  const int64_t n_prompt = static_cast<int64_t>(spec.prompt.size());
  if (n_prompt >= n_ctx) {
    throw bad_request("the prompt is " + std::to_string(n_prompt) + " tokens; the context holds " +
                          std::to_string(n_ctx) + " (the prompt plus at least one new token must fit)",
                      prompt_field(p));
  }
  const int64_t room = n_ctx - n_prompt;
  if (p.max_tokens && *p.max_tokens > room && !is_ollama(p.endpoint)) {
    throw bad_request("the prompt (" + std::to_string(n_prompt) + " tokens) plus max_tokens (" +
                          std::to_string(*p.max_tokens) + ") exceed the context size " + std::to_string(n_ctx),
                      "max_tokens");
  }
  // Ollama stops a reply that fills the context (done_reason "length") rather than refusing it.
  spec.max_tokens = static_cast<int32_t>(p.max_tokens ? std::min<int64_t>(*p.max_tokens, room)
                                                      : default_max_tokens(p.endpoint, room));
  for (const auto& [id, bias] : spec.sampling.logit_bias) {
    if (id >= m.tokenizer().n_vocab()) {
      throw bad_request("logit_bias: token id " + std::to_string(id) + " is outside the vocabulary", "logit_bias");
    }
  }
  return spec;
}

// How the reply is read: tool calls when tools were offered to a template that has a call format, thinking when
// the template shows the model thinks. Marker tokens are streamed as text where they are control tokens.
ReplyOptions reply_options(const ServedModel& m, const ParsedRequest& p, GenerationSpec& spec) {
  ReplyOptions o;
  if (p.messages.is_null()) return o;
  if (p.tools.is_array() && !p.tools.empty()) o.tool_format = m.tool_call_format();
  o.reasoning = m.thinks();
  if (o.reasoning) o.starts_thinking = m.opens_thinking(spec.prompt);
  if (p.tool_call_required) {
    // tool_choice "required" or named: the grammar admits only calls in the template's format.
    spec.sampling.grammar = tool_call_grammar(nlohmann::json::parse(p.tools.dump()), p.tool_choice_name,
                                              m.tool_call_format(), p.parallel_tool_calls, o.starts_thinking);
  }
  if (o.tool_format != ToolCallFormat::kNone || (o.reasoning && m.think_tags_are_control())) spec.special = true;
  return o;
}

// The sequences a request asks for: each prompt (a completions request may give several) n times, in OpenAI's
// order (prompt by prompt, its n choices together). Choice j of every prompt samples with the request's seed + j,
// so a choice is reproducible with the same seed whatever else the request holds, and n = 1 is the seed itself.
struct Choices {
  std::vector<std::shared_ptr<GenerationTask>> tasks;
  std::vector<ReplyOptions> options;
  Usage usage;  // each prompt counted once
};

Choices make_choices(ParsedRequest& p, ServedModel& m, int64_t n_ctx) {
  const size_t n_prompts = 1 + p.more_prompts.size();
  const size_t total = n_prompts * static_cast<size_t>(p.n);
  if (total > static_cast<size_t>(params::kN.max)) {
    throw bad_request("prompts × n is " + std::to_string(total) + "; a request gives at most " +
                          format_number(params::kN.max) + " choices",
                      "n");
  }
  Choices c;
  const size_t n_adapters = m.scheduler().lora_adapters().size();
  const std::vector<float> asked = p.lora ? fields::lora_scales(*p.lora, n_adapters, "lora") : std::vector<float>{};
  const std::vector<float> lora = m.scheduler().request_lora_scales(p.lora ? &asked : nullptr);
  for (size_t k = 0; k < n_prompts; ++k) {
    GenerationSpec spec = make_spec(p, m, n_ctx, k);
    spec.lora_scales = lora;
    c.usage.prompt_tokens += static_cast<int64_t>(spec.prompt.size());
    for (int32_t j = 0; j < p.n; ++j) {
      GenerationSpec one = spec;
      one.sampling.seed = spec.sampling.seed + static_cast<uint64_t>(j);
      c.options.push_back(reply_options(m, p, one));
      c.tasks.push_back(std::make_shared<GenerationTask>(std::move(one)));
    }
  }
  return c;
}

// One body of several whole choices: the first's, with every choice in it and the usage of all.
nlohmann::json merge_choices(std::vector<nlohmann::json> bodies, Usage usage) {
  nlohmann::json body = std::move(bodies[0]);
  for (size_t i = 1; i < bodies.size(); ++i) body["choices"].push_back(std::move(bodies[i]["choices"][0]));
  body["usage"] = usage_json(usage);
  return body;
}

// Returns the usage of all choices.
Usage answer_whole(std::vector<AnswerChoice>& choices, Usage usage, httplib::Response& res) {
  std::vector<nlohmann::json> bodies;
  for (AnswerChoice& c : choices) {
    const Outcome o = collect_whole(*c.task, c.parser);
    if (!c.task->error().empty()) {
      for (AnswerChoice& other : choices) other.task->cancel();
      throw ApiError(500, "generation failed: " + c.task->error(), "server_error");
    }
    usage.completion_tokens += static_cast<int64_t>(o.tokens.size());
    bodies.push_back(c.format->whole(*c.task, o));
  }
  send_json(res, bodies.size() == 1 ? std::move(bodies[0]) : merge_choices(std::move(bodies), usage));
  return usage;
}

}  // namespace

void handle_generation(ServerState& state, const httplib::Request& req, const std::string& body, httplib::Response& res,
                       Endpoint endpoint) {
  ParsedRequest p =
      is_ollama(endpoint) ? parse_ollama_request(body, endpoint) : parse_generation_request(body, endpoint);
  ServedModel& m = pick_model(state, p.model, is_ollama(endpoint) ? ErrorStyle::kOllama : ErrorStyle::kOpenAI);
  if (p.load_only) {
    send_json(res, ollama_load_answer(p));
    return;
  }
  Choices set = make_choices(p, m, m.scheduler().n_ctx());
  if (set.tasks.size() > m.scheduler().max_queue()) {
    throw bad_request("the request asks for " + std::to_string(set.tasks.size()) + " choices; the queue of model '" +
                          m.id() + "' holds " + std::to_string(m.scheduler().max_queue()),
                      "n");
  }
  const int fd = find_connection_socket(req.remote_addr, req.remote_port, req.local_port);
  for (auto& task : set.tasks) {
    if (fd >= 0) task->client_gone = [fd] { return peer_closed(fd); };
  }
  if (!m.scheduler().submit_all(set.tasks)) {
    throw unavailable("the request queue of model '" + m.id() + "' is full; retry later", "queue_full");
  }
  std::vector<AnswerChoice> choices;
  const bool several = set.tasks.size() > 1;
  const CompletionIds ids = new_completion_ids(endpoint, m.id());
  for (size_t i = 0; i < set.tasks.size(); ++i) {
    const ChoiceOf of{static_cast<int>(i), ids};
    std::unique_ptr<AnswerFormat> format = is_ollama(endpoint)
                                               ? make_ollama_format(p, p.model.empty() ? m.id() : p.model)
                                               : make_openai_format(p, m.id(), &m.tokenizer(), several ? &of : nullptr);
    choices.emplace_back(set.tasks[i], std::move(format), set.options[i]);
  }
  const std::shared_ptr<RequestStats> stats = state.log.stats(req);
  if (stats) {
    stats->model = m.id();
    stats->prompt_tokens = set.usage.prompt_tokens;
  }
  if (!p.stream) {
    const Usage usage = answer_whole(choices, set.usage, res);
    if (stats) stats->generated_tokens = usage.completion_tokens;
    return;
  }
  auto writer = std::make_shared<StreamWriter>(std::move(choices), set.usage);
  if (stats) writer->on_end = [stats](const Usage& u) { stats->generated_tokens = u.completion_tokens; };
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider(
      writer->content_type(), [writer](size_t, httplib::DataSink& sink) { return writer->run(sink); },
      [writer](bool) { writer->cancel(); });
}

}  // namespace ternion::server
