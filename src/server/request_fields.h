// Reading request fields with their types and ranges checked; shared by the OpenAI and Ollama request readers.
// Every failure is an ApiError (400) naming the field.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "ternion/core/param_rules.h"
#include "ternion/server/openai_schema.h"

namespace ternion::server::fields {

// A field that is present and not null; nullptr otherwise.
const nlohmann::json* field(const nlohmann::json& body, const char* name);
[[noreturn]] void wrong_type(const char* name, const char* expected);
std::optional<bool> get_bool(const nlohmann::json& body, const char* name);
std::optional<int64_t> get_int(const nlohmann::json& body, const char* name, int64_t lo, int64_t hi);
std::optional<std::string> get_string(const nlohmann::json& body, const char* name);
// A field with a parameter rule (core/param_rules.h): the same range and message as the command line's flag.
std::optional<double> get_param(const nlohmann::json& body, const ParamRule& rule);
// "stop": a string or an array of non-empty strings.
std::vector<std::string> read_stop(const nlohmann::json& body);
// temperature, top_p, top_k, min_p, the penalties, seed and logit_bias of `body` into r.spec.sampling.
void read_sampling(const nlohmann::json& body, ParsedRequest& r);
// The tools array, checked: each {"type": "function", "function": {"name": ...}}.
nlohmann::ordered_json read_tools(const nlohmann::json& body);

// llama.cpp's adapter list [{"id": 0, "scale": 0.5}, ...] (the per-request `lora` field and the body of POST
// /lora-adapters), each id in [0, n_adapters) once and each scale a finite number; `name` names it in errors.
std::vector<std::pair<int64_t, float>> read_lora_list(const nlohmann::json& list, const char* name);
// One scale per adapter from such a list: the listed ones, 0 for the rest.
std::vector<float> lora_scales(const std::vector<std::pair<int64_t, float>>& list, size_t n_adapters, const char* name);

// A message's tool_calls, checked ({"function": {"name", "arguments"}}), with arguments given as JSON text parsed
// into objects for the template; `where` names the field in errors.
nlohmann::ordered_json read_tool_calls(const nlohmann::json& calls, const std::string& where);

}  // namespace ternion::server::fields
