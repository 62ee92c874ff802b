// The generation endpoints' common path: a parsed request becomes a prompt of token ids, is queued on the
// model's scheduler and answered whole or streamed, in the shapes of the API it came through (answer.h).
#include <chrono>
#include <memory>
#include <string>

#include "answer.h"
#include "routes.h"
#include "ternion/core/error.h"
#include "ternion/server/connection.h"

namespace ternion::server {

namespace {

using json = nlohmann::json;

const char* prompt_field(const ParsedRequest& p) {
  return p.endpoint == Endpoint::kChat || p.endpoint == Endpoint::kOllamaChat ? "messages" : "prompt";
}

std::vector<int32_t> prompt_tokens(const ParsedRequest& p, const ServedModel& m) {
  const Tokenizer& tok = m.tokenizer();
  std::vector<int32_t> ids;
  const bool templated = !p.messages.is_null();
  try {
    if (templated) {
      ids = m.chat_prompt(p.messages, p.tools);
    } else if (p.prompt_is_ids) {
      ids = p.prompt_ids;
    } else {
      ids = tokenize_prompt(tok, p.prompt, p.add_bos, p.parse_special);
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

// Fills the prompt and max_tokens of the spec; checks them against the context.
GenerationSpec make_spec(ParsedRequest& p, const ServedModel& m, int64_t n_ctx) {
  GenerationSpec spec = std::move(p.spec);
  spec.prompt = prompt_tokens(p, m);
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
  if (o.tool_format != ToolCallFormat::kNone || (o.reasoning && m.think_tags_are_control())) spec.special = true;
  return o;
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
  GenerationSpec spec = make_spec(p, m, m.scheduler().n_ctx());
  const ReplyOptions options = reply_options(m, p, spec);
  auto task = std::make_shared<GenerationTask>(std::move(spec));
  const int fd = find_connection_socket(req.remote_addr, req.remote_port, req.local_port);
  if (fd >= 0) task->client_gone = [fd] { return peer_closed(fd); };
  if (!m.scheduler().submit(task)) {
    throw unavailable("the request queue of model '" + m.id() + "' is full; retry later", "queue_full");
  }
  std::unique_ptr<AnswerFormat> format = is_ollama(endpoint) ? make_ollama_format(p, p.model.empty() ? m.id() : p.model)
                                                             : make_openai_format(p, m.id(), &m.tokenizer());
  if (!p.stream) {
    ReplyParser parser(options);
    const Outcome o = collect_whole(*task, parser);
    if (!task->error().empty()) throw ApiError(500, "generation failed: " + task->error(), "server_error");
    send_json(res, format->whole(*task, o));
    return;
  }
  auto writer = std::make_shared<StreamWriter>(task, std::move(format), options);
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider(
      writer->content_type(), [writer](size_t, httplib::DataSink& sink) { return writer->run(sink); },
      [task](bool) { task->cancel(); });
}

}  // namespace ternion::server
