// The grammar a request's output must match, from the request fields clients send for structured output:
// OpenAI's `response_format` and llama.cpp's `grammar` / `json_schema`, and Ollama's `format`. Each gives GBNF text
// for SamplingParams::grammar (ternion/sampling/grammar.h), or "" for an unconstrained request.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace ternion::server {

// From an OpenAI-style body: `response_format` {type: text} (none), {type: json_object} (any object),
// {type: json_schema, json_schema: {schema, strict}} (strict: objects without `additionalProperties` get none, as
// OpenAI's strict mode requires); else llama.cpp's `grammar` (GBNF) or `json_schema` (a schema). Throws ApiError
// 400 naming the field for a malformed value, a schema the converter refuses, a grammar that does not parse, or
// more than one of them.
std::string request_grammar(const nlohmann::json& body);

// From Ollama's `format`: "json" (any JSON object) or a JSON Schema object; null or "" is none. Throws ApiError
// 400 naming `format`.
std::string ollama_format_grammar(const nlohmann::json& format);

}  // namespace ternion::server
