// Building the response bodies and stream chunks of the generation endpoints.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>

#include "ternion/server/openai_schema.h"

namespace ternion::server {

namespace {

using json = nlohmann::json;

bool is_chat(Endpoint e) { return e == Endpoint::kChat; }

json bytes_of(const std::string& s) {
  json b = json::array();
  for (unsigned char c : s) b.push_back(static_cast<int>(c));
  return b;
}

json finish_value(const std::string& finish_reason) {
  return finish_reason.empty() ? json(nullptr) : json(finish_reason);
}

}  // namespace

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

CompletionIds new_completion_ids(Endpoint endpoint, const std::string& model) {
  static std::atomic<uint64_t> counter{0};
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[48];
  std::snprintf(buf, sizeof buf, "%016llx%08llx", static_cast<unsigned long long>(rng()),
                static_cast<unsigned long long>(counter.fetch_add(1) & 0xffffffffu));
  CompletionIds ids;
  ids.id = std::string(is_chat(endpoint) ? "chatcmpl-" : "cmpl-") + buf;
  ids.created =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  ids.model = model;
  return ids;
}

json usage_json(const Usage& u) {
  return {{"prompt_tokens", u.prompt_tokens},
          {"completion_tokens", u.completion_tokens},
          {"total_tokens", u.prompt_tokens + u.completion_tokens}};
}

json logprobs_json(Endpoint endpoint, const Tokenizer& tok, const std::vector<TokenLogprob>& lps, size_t text_offset) {
  if (is_chat(endpoint)) {
    json content = json::array();
    for (const TokenLogprob& lp : lps) {
      const std::string piece = tok.token_to_piece(lp.id, false);
      json top = json::array();
      for (const auto& [id, l] : lp.top) {
        const std::string p = tok.token_to_piece(id, false);
        top.push_back({{"token", p}, {"logprob", l}, {"bytes", bytes_of(p)}});
      }
      content.push_back({{"token", piece}, {"logprob", lp.logprob}, {"bytes", bytes_of(piece)}, {"top_logprobs", top}});
    }
    return {{"content", content}, {"refusal", nullptr}};
  }
  json tokens = json::array(), token_lps = json::array(), top = json::array(), offsets = json::array();
  size_t offset = text_offset;
  for (const TokenLogprob& lp : lps) {
    const std::string piece = tok.token_to_piece(lp.id, false);
    tokens.push_back(piece);
    token_lps.push_back(lp.logprob);
    json alt = json::object();
    for (const auto& [id, l] : lp.top) alt[tok.token_to_piece(id, false)] = l;
    top.push_back(alt);
    offsets.push_back(offset);
    offset += piece.size();
  }
  return {{"tokens", tokens}, {"token_logprobs", token_lps}, {"top_logprobs", top}, {"text_offset", offsets}};
}

json completion_response(Endpoint endpoint, const CompletionIds& ids, const std::string& text,
                         const std::string& finish_reason, const json& logprobs, const Usage& usage) {
  json choice;
  choice["index"] = 0;
  if (is_chat(endpoint)) {
    choice["message"] = {{"role", "assistant"}, {"content", text}, {"refusal", nullptr}};
  } else {
    choice["text"] = text;
  }
  choice["logprobs"] = logprobs;
  choice["finish_reason"] = finish_value(finish_reason);
  return {{"id", ids.id},
          {"object", is_chat(endpoint) ? "chat.completion" : "text_completion"},
          {"created", ids.created},
          {"model", ids.model},
          {"system_fingerprint", "ternion"},
          {"choices", json::array({choice})},
          {"usage", usage_json(usage)}};
}

json stream_chunk(Endpoint endpoint, const CompletionIds& ids, const std::string* text, bool role,
                  const std::string& finish_reason, const json& logprobs, bool include_usage) {
  json choice;
  choice["index"] = 0;
  if (is_chat(endpoint)) {
    json delta = json::object();
    if (role) delta["role"] = "assistant";
    if (text != nullptr) delta["content"] = *text;
    choice["delta"] = delta;
  } else {
    choice["text"] = text != nullptr ? *text : std::string();
  }
  choice["logprobs"] = logprobs;
  choice["finish_reason"] = finish_value(finish_reason);
  json chunk = {{"id", ids.id},
                {"object", is_chat(endpoint) ? "chat.completion.chunk" : "text_completion"},
                {"created", ids.created},
                {"model", ids.model},
                {"system_fingerprint", "ternion"},
                {"choices", json::array({choice})}};
  if (include_usage) chunk["usage"] = nullptr;
  return chunk;
}

json usage_chunk(Endpoint endpoint, const CompletionIds& ids, const Usage& usage) {
  return {{"id", ids.id},
          {"object", is_chat(endpoint) ? "chat.completion.chunk" : "text_completion"},
          {"created", ids.created},
          {"model", ids.model},
          {"system_fingerprint", "ternion"},
          {"choices", json::array()},
          {"usage", usage_json(usage)}};
}

}  // namespace ternion::server
