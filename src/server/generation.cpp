// The generation endpoints' common path: a parsed request becomes a prompt of token ids, is queued on the
// model's scheduler and answered whole or streamed as Server-Sent Events.
#include <chrono>
#include <memory>
#include <string>

#include "routes.h"
#include "ternion/core/error.h"
#include "ternion/server/connection.h"
#include "ternion/server/sse.h"

namespace ternion::server {

namespace {

using json = nlohmann::json;
constexpr std::chrono::milliseconds kPoll{100};

std::vector<int32_t> prompt_tokens(const ParsedRequest& p, const ServedModel& m) {
  const Tokenizer& tok = m.tokenizer();
  std::vector<int32_t> ids;
  try {
    if (p.endpoint == Endpoint::kChat) {
      ids = m.chat_prompt(p.messages, p.tools);
    } else if (p.prompt_is_ids) {
      ids = p.prompt_ids;
    } else {
      ids = tokenize_prompt(tok, p.prompt, p.add_bos, p.parse_special);
    }
  } catch (const Error& e) {
    throw bad_request(std::string(p.endpoint == Endpoint::kChat ? "the chat template failed: " : "") + e.what(),
                      p.endpoint == Endpoint::kChat ? "messages" : "prompt");
  }
  for (int32_t id : ids) {
    if (id < 0 || id >= tok.n_vocab()) {
      throw bad_request("token id " + std::to_string(id) + " is outside the vocabulary", "prompt");
    }
  }
  if (ids.empty()) throw bad_request("the prompt gives no tokens", "prompt");
  return ids;
}

// Fills the prompt and max_tokens of the spec; checks them against the context.
GenerationSpec make_spec(ParsedRequest& p, const ServedModel& m, int64_t n_ctx) {
  GenerationSpec spec = std::move(p.spec);
  spec.prompt = prompt_tokens(p, m);
  const int64_t n_prompt = static_cast<int64_t>(spec.prompt.size());
  if (n_prompt >= n_ctx) {
    throw bad_request("the prompt is " + std::to_string(n_prompt) + " tokens; the context holds " +
                          std::to_string(n_ctx) + " (the prompt plus at least one new token must fit)",
                      p.endpoint == Endpoint::kChat ? "messages" : "prompt");
  }
  const int64_t room = n_ctx - n_prompt;
  if (p.max_tokens) {
    if (*p.max_tokens > room) {
      throw bad_request("the prompt (" + std::to_string(n_prompt) + " tokens) plus max_tokens (" +
                            std::to_string(*p.max_tokens) + ") exceed the context size " + std::to_string(n_ctx),
                        "max_tokens");
    }
    spec.max_tokens = *p.max_tokens;
  } else {
    const int64_t dflt = p.endpoint == Endpoint::kChat ? room : p.endpoint == Endpoint::kCompletion ? 16 : 128;
    spec.max_tokens = static_cast<int32_t>(std::min(dflt, room));
  }
  for (const auto& [id, bias] : spec.sampling.logit_bias) {
    if (id >= m.tokenizer().n_vocab()) {
      throw bad_request("logit_bias: token id " + std::to_string(id) + " is outside the vocabulary", "logit_bias");
    }
  }
  return spec;
}

// Everything a response needs once the task is done.
struct Outcome {
  std::string text;
  std::vector<int32_t> tokens;
  std::vector<TokenLogprob> logprobs;
};

void collect(Outcome& o, std::vector<Delta>& deltas) {
  for (Delta& d : deltas) {
    o.text += d.text;
    o.tokens.insert(o.tokens.end(), d.tokens.begin(), d.tokens.end());
    for (TokenLogprob& lp : d.logprobs) o.logprobs.push_back(std::move(lp));
  }
  deltas.clear();
}

json generate_body(const ServedModel& m, const GenerationTask& t, const Outcome& o) {
  const int64_t n_prompt = static_cast<int64_t>(t.spec().prompt.size());
  const double tps = t.generate_ms() > 0
                         ? 1000.0 * static_cast<double>(o.tokens.size() > 0 ? o.tokens.size() - 1 : 0) / t.generate_ms()
                         : 0.0;
  json j = {
      {"model", m.id()},
      {"text", o.text},
      {"tokens", o.tokens},
      {"prompt_tokens", t.spec().prompt},
      {"finish_reason", t.finish_reason()},
      {"seed", t.seed()},
      {"usage", usage_json({n_prompt, static_cast<int64_t>(o.tokens.size())})},
      {"timings",
       {{"time_to_first_token_ms", t.ttft_ms()}, {"generate_ms", t.generate_ms()}, {"generate_tokens_per_s", tps}}}};
  return j;
}

void answer_whole(const ServedModel& m, const std::shared_ptr<GenerationTask>& task, const ParsedRequest& p,
                  httplib::Response& res) {
  Outcome o;
  std::vector<Delta> deltas;
  bool done = false;
  while (!done) {
    done = task->wait(deltas, kPoll);
    collect(o, deltas);
  }
  if (!task->error().empty()) throw ApiError(500, "generation failed: " + task->error(), "server_error");
  if (p.endpoint == Endpoint::kGenerate) {
    send_json(res, generate_body(m, *task, o));
    return;
  }
  const CompletionIds ids = new_completion_ids(p.endpoint, m.id());
  const json lps = p.logprobs >= 0 ? logprobs_json(p.endpoint, m.tokenizer(), o.logprobs, 0) : json(nullptr);
  const Usage usage{static_cast<int64_t>(task->spec().prompt.size()), static_cast<int64_t>(o.tokens.size())};
  send_json(res, completion_response(p.endpoint, ids, o.text, task->finish_reason(), lps, usage));
}

// Writes a stream of SSE frames as the task produces output. Returns false (and cancels the task) when the client
// is gone.
class StreamWriter {
 public:
  StreamWriter(const ServedModel& m, std::shared_ptr<GenerationTask> task, const ParsedRequest& p)
      : m_(m),
        task_(std::move(task)),
        endpoint_(p.endpoint),
        logprobs_(p.logprobs),
        include_usage_(p.include_usage),
        ids_(new_completion_ids(p.endpoint, m.id())) {}

  bool run(httplib::DataSink& sink) {
    const auto send = [&](const json& j) {
      const std::string frame = sse_event(dump(j));
      return sink.write(frame.data(), frame.size());
    };
    if (endpoint_ == Endpoint::kChat) {
      const std::string empty;
      if (!send(stream_chunk(endpoint_, ids_, &empty, true, "", nullptr, include_usage_))) return gone();
    }
    std::vector<Delta> deltas;
    bool done = false;
    while (!done) {
      done = task_->wait(deltas, kPoll);
      for (const Delta& d : deltas) {
        n_tokens_ += static_cast<int64_t>(d.tokens.size());
        if (d.text.empty() && d.logprobs.empty()) continue;
        if (!send(delta_frame(d))) return gone();
      }
      deltas.clear();
      if (!done && task_->client_gone && task_->client_gone()) return gone();
    }
    if (task_->finish_reason() == "cancelled") return gone();
    if (!task_->error().empty()) {
      const ApiError e(500, "generation failed: " + task_->error(), "server_error");
      send(e.body());
    } else if (endpoint_ == Endpoint::kGenerate) {
      if (!send({{"text", ""},
                 {"tokens", json::array()},
                 {"finish_reason", task_->finish_reason()},
                 {"usage", usage()}})) {
        return gone();
      }
    } else {
      if (!send(stream_chunk(endpoint_, ids_, nullptr, false, task_->finish_reason(), nullptr, include_usage_))) {
        return gone();
      }
      if (include_usage_ && !send(usage_chunk(endpoint_, ids_, {n_prompt(), n_tokens_}))) return gone();
    }
    if (!sink.write(sse_done().data(), sse_done().size())) return gone();
    sink.done();
    return true;
  }

 private:
  int64_t n_prompt() const { return static_cast<int64_t>(task_->spec().prompt.size()); }
  json usage() const { return usage_json({n_prompt(), n_tokens_}); }

  json delta_frame(const Delta& d) {
    if (endpoint_ == Endpoint::kGenerate) return {{"text", d.text}, {"tokens", d.tokens}};
    const json lps =
        logprobs_ >= 0 ? logprobs_json(endpoint_, m_.tokenizer(), d.logprobs, text_offset_) : json(nullptr);
    text_offset_ += d.text.size();
    return stream_chunk(endpoint_, ids_, &d.text, false, "", lps, include_usage_);
  }

  bool gone() {
    task_->cancel();
    return false;
  }

  const ServedModel& m_;
  std::shared_ptr<GenerationTask> task_;
  Endpoint endpoint_;
  int32_t logprobs_;
  bool include_usage_;
  CompletionIds ids_;
  int64_t n_tokens_ = 0;
  size_t text_offset_ = 0;
};

}  // namespace

void handle_generation(ServerState& state, const httplib::Request& req, const std::string& body, httplib::Response& res,
                       Endpoint endpoint) {
  ParsedRequest p = parse_generation_request(body, endpoint);
  ServedModel& m = pick_model(state, p.model);
  auto task = std::make_shared<GenerationTask>(make_spec(p, m, m.scheduler().n_ctx()));
  const int fd = find_connection_socket(req.remote_addr, req.remote_port, req.local_port);
  if (fd >= 0) task->client_gone = [fd] { return peer_closed(fd); };
  if (!m.scheduler().submit(task)) {
    throw unavailable("the request queue of model '" + m.id() + "' is full; retry later", "queue_full");
  }
  if (!p.stream) {
    answer_whole(m, task, p, res);
    return;
  }
  auto writer = std::make_shared<StreamWriter>(m, task, p);
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider(
      "text/event-stream", [writer](size_t, httplib::DataSink& sink) { return writer->run(sink); },
      [task](bool) { task->cancel(); });
}

}  // namespace ternion::server
