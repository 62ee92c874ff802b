// The grammar a request's output must match, from the request fields clients send for structured output:
// OpenAI's `response_format` and llama.cpp's `grammar` / `json_schema`, and Ollama's `format`. Each gives GBNF text
// for SamplingParams::grammar (ternion/sampling/grammar.h), or "" for an unconstrained request.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "ternion/engine/tool_calls.h"

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

// tool_choice "required" or a named function: a grammar whose every match is a tool call in the model's format
// (`format`, not kNone) that parse_tool_calls reads, naming one of `tools` (only `name` when not empty) with
// arguments valid for its `parameters` schema (any object when it has none; a function with "strict": true gets
// OpenAI's strict objects). `several`: more than one call may follow (parallel_tool_calls). `after_thinking`: the
// prompt opened the model's thinking, which may run (without '<') up to its "</think>" before the call. Throws
// ApiError 400 naming `tools` for a parameters schema the converter refuses, `tool_choice` for an unknown name.
std::string tool_call_grammar(const nlohmann::json& tools, const std::string& name, ToolCallFormat format, bool several,
                              bool after_thinking);

}  // namespace ternion::server
