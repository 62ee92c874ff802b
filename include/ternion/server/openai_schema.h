// The request bodies of the generation endpoints (OpenAI chat completions and completions, /generate, and
// Ollama's /api/chat and /api/generate), read into one form with every field type- and range-checked, and the
// OpenAI response bodies and stream chunks built from the scheduler's output.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "ternion/server/task.h"
#include "ternion/tokenizer/tokenizer.h"

namespace ternion::server {

enum class Endpoint { kChat, kCompletion, kGenerate, kOllamaChat, kOllamaGenerate };

// Ollama's endpoints answer in Ollama's shapes and errors.
inline bool is_ollama(Endpoint e) { return e == Endpoint::kOllamaChat || e == Endpoint::kOllamaGenerate; }

// One prompt of a completions request: text, or token ids.
struct PromptInput {
  std::string text;
  std::vector<int32_t> ids;
  bool is_ids = false;
};

struct ParsedRequest {
  Endpoint endpoint = Endpoint::kChat;
  std::string model;  // empty: the only model served
  bool stream = false;
  bool include_usage = false;       // stream_options.include_usage
  nlohmann::ordered_json messages;  // chat (and Ollama's templated generate): rendered by the chat template
  nlohmann::ordered_json tools;     // chat, passed to the template when given (not with tool_choice "none")
  // tool_choice "required" or a named function (tool_choice_name): the reply is constrained to tool calls.
  bool tool_call_required = false;
  std::string tool_choice_name;
  bool parallel_tool_calls = true;
  bool load_only = false;           // Ollama: no prompt or messages, "load the model" (answered at once)
  std::string prompt;               // completion, generate
  std::vector<int32_t> prompt_ids;  // completion given token ids
  bool prompt_is_ids = false;
  std::vector<PromptInput> more_prompts;  // completions given an array: the prompts after the first
  int32_t n = 1;                          // choices per prompt (chat, completions)
  // llama.cpp's per-request `lora`: [{"id", "scale"}]; adapters not listed run at 0. Unset: the server's scales.
  std::optional<std::vector<std::pair<int64_t, float>>> lora;
  std::optional<bool> add_bos;  // generate: as `ternion run --no-bos`
  bool parse_special = false;
  std::optional<int32_t> max_tokens;
  int32_t logprobs = -1;  // -1: none, else the number of alternatives per token
  bool seed_given = false;
  GenerationSpec spec;  // sampling, stop, ignore_eos, logprobs (prompt and max_tokens are filled later)
};

// Reads and validates a request body; throws ApiError (400) naming the field.
ParsedRequest parse_generation_request(const std::string& body, Endpoint endpoint);
// The same for Ollama's /api/chat and /api/generate (ollama_request.cpp).
ParsedRequest parse_ollama_request(const std::string& body, Endpoint endpoint);

// Parses a JSON body that must be an object; throws ApiError (400).
nlohmann::json parse_json_object(const std::string& body);

// Response building: the identity of one completion.
struct CompletionIds {
  std::string id;  // chatcmpl-… / cmpl-…
  int64_t created = 0;
  std::string model;
};
CompletionIds new_completion_ids(Endpoint endpoint, const std::string& model);

struct Usage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
};
nlohmann::json usage_json(const Usage& u);

// The logprobs object of a choice for these tokens (chat: {"content": [...]}; completion: the legacy form).
nlohmann::json logprobs_json(Endpoint endpoint, const Tokenizer& tok, const std::vector<TokenLogprob>& lps,
                             size_t text_offset);

// A whole (non-streamed) response.
nlohmann::json completion_response(Endpoint endpoint, const CompletionIds& ids, const std::string& text,
                                   const std::string& finish_reason, const nlohmann::json& logprobs,
                                   const Usage& usage);
// One stream chunk. For chat, `role` adds the assistant role to the delta; finish_reason may be empty (null).
nlohmann::json stream_chunk(Endpoint endpoint, const CompletionIds& ids, const std::string* text, bool role,
                            const std::string& finish_reason, const nlohmann::json& logprobs, bool include_usage);
// The last chunk of a stream with stream_options.include_usage: no choices, the usage.
nlohmann::json usage_chunk(Endpoint endpoint, const CompletionIds& ids, const Usage& usage);

// JSON text of a value whose strings may hold invalid UTF-8 (replaced by U+FFFD).
std::string dump(const nlohmann::json& j);

}  // namespace ternion::server
