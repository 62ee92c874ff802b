#include "ternion/server/structured_output.h"

#include <string>

#include "ternion/core/error.h"
#include "ternion/sampling/grammar.h"
#include "ternion/sampling/json_schema.h"
#include "ternion/server/api_error.h"

namespace ternion::server {

namespace {

using json = nlohmann::json;

// OpenAI's strict mode: every object schema without `additionalProperties` gets `false`.
void make_strict(nlohmann::ordered_json& s, int depth) {
  if (depth > 64) return;  // the converter refuses deeper schemas with its own error
  if (s.is_array()) {
    for (auto& x : s) make_strict(x, depth + 1);
    return;
  }
  if (!s.is_object()) return;
  const bool object = s.contains("properties") || (s.contains("type") && s["type"] == "object");
  if (object && !s.contains("additionalProperties")) s["additionalProperties"] = false;
  for (auto& [key, value] : s.items()) {
    if (key != "enum" && key != "const") make_strict(value, depth + 1);
  }
}

std::string from_schema(const json& schema, bool strict, const char* param) {
  if (!schema.is_object() && !schema.is_boolean()) {
    throw bad_request(std::string("'") + param + "' must be a JSON Schema object", param);
  }
  // Schemas as ordered JSON so that converted objects keep their keys in order (a json body has them sorted).
  nlohmann::ordered_json s = nlohmann::ordered_json::parse(schema.dump());
  if (strict) make_strict(s, 0);
  try {
    return json_schema_to_gbnf(s);
  } catch (const Error& e) {
    throw bad_request(e.what(), param);
  }
}

std::string from_response_format(const json& f) {
  if (!f.is_object() || !f.contains("type") || !f["type"].is_string()) {
    throw bad_request("'response_format' must be an object with a string 'type'", "response_format");
  }
  const std::string type = f["type"].get<std::string>();
  if (type == "text") return "";
  if (type == "json_object") return json_object_gbnf();
  if (type != "json_schema") {
    throw bad_request("'response_format.type' must be 'text', 'json_object' or 'json_schema', got '" + type + "'",
                      "response_format");
  }
  const auto js = f.find("json_schema");
  if (js == f.end() || !js->is_object()) {
    throw bad_request("'response_format.json_schema' must be an object with a 'schema'", "response_format");
  }
  const auto strict = js->find("strict");
  if (strict != js->end() && !strict->is_null() && !strict->is_boolean()) {
    throw bad_request("'response_format.json_schema.strict' must be a boolean", "response_format");
  }
  const bool is_strict = strict != js->end() && strict->is_boolean() && strict->get<bool>();
  const auto schema = js->find("schema");
  // The schema is optional in OpenAI's API: without one, any JSON object (as json_object).
  if (schema == js->end() || schema->is_null()) return json_object_gbnf();
  return from_schema(*schema, is_strict, "response_format");
}

// The JSON schema of one call of `tool` in a format whose arguments key is `args_key`.
nlohmann::ordered_json call_schema(const json& tool, const char* args_key, size_t index) {
  const json& fn = tool["function"];
  nlohmann::ordered_json params = nlohmann::ordered_json{{"type", "object"}};
  if (auto it = fn.find("parameters"); it != fn.end() && !it->is_null()) {
    if (!it->is_object()) {
      throw bad_request("'tools[" + std::to_string(index) + "].function.parameters' must be a JSON Schema object",
                        "tools");
    }
    params = nlohmann::ordered_json::parse(it->dump());
  }
  if (auto st = fn.find("strict"); st != fn.end() && st->is_boolean() && st->get<bool>()) make_strict(params, 0);
  nlohmann::ordered_json props;
  props["name"] = {{"const", fn["name"]}};
  props[args_key] = std::move(params);
  return {{"type", "object"},
          {"properties", std::move(props)},
          {"required", {"name", args_key}},
          {"additionalProperties", false}};
}

// The grammar of `schema`, its root renamed to a name the converter left free (it names its other rules from
// schema keys), returned in `name`; to be referred to from a wrapping root.
std::string schema_rules(const nlohmann::ordered_json& schema, std::string& name) {
  std::string g;
  try {
    g = json_schema_to_gbnf(schema);
  } catch (const Error& e) {
    throw bad_request(std::string("tool_choice needs each tool's parameters as a schema we enforce: ") + e.what(),
                      "tools");
  }
  const std::string base = name;
  for (int i = 2; g.find("\n" + name + " ::=") != std::string::npos; ++i) name = base + std::to_string(i);
  return name + g.substr(4);  // "root ::= ..." is the first line
}

}  // namespace

std::string tool_call_grammar(const json& tools, const std::string& name, ToolCallFormat format, bool several,
                              bool after_thinking) {
  const char* args_key = format == ToolCallFormat::kLlama3 ? "parameters" : "arguments";
  nlohmann::ordered_json calls = nlohmann::ordered_json::array();
  for (size_t i = 0; tools.is_array() && i < tools.size(); ++i) {
    if (name.empty() || tools[i]["function"]["name"] == name) calls.push_back(call_schema(tools[i], args_key, i));
  }
  if (calls.empty()) {
    throw bad_request(name.empty() ? "tool_choice \"required\" needs 'tools'"
                                   : "tool_choice names the function '" + name + "', which 'tools' does not hold",
                      "tool_choice");
  }
  nlohmann::ordered_json call = calls.size() == 1 ? calls[0] : nlohmann::ordered_json{{"anyOf", calls}};
  if (format == ToolCallFormat::kNone) {
    throw bad_request(
        "tool_choice \"required\" or a named function needs a model whose chat template has a "
        "tool-call format; this one has none",
        "tool_choice");
  }
  if (format == ToolCallFormat::kMistral) {
    nlohmann::ordered_json list = {{"type", "array"}, {"items", call}, {"minItems", 1}};
    if (!several) list["maxItems"] = 1;
    call = std::move(list);
  }
  std::string ref = "tool-call";
  const std::string rules = schema_rules(call, ref);
  std::string root;
  if (format == ToolCallFormat::kHermes) {
    const std::string one = "\"<tool_call>\\n\" " + ref + " \"\\n</tool_call>\"";
    root = several ? one + " (\"\\n\" " + one + ")*" : one;
  } else if (format == ToolCallFormat::kLlama3) {
    root = several ? ref + " (\"; \" " + ref + ")*" : ref;
  } else {
    root = "\"[TOOL_CALLS]\" " + ref;
  }
  if (after_thinking) root = "([^<]* \"</think>\" [ \\n]*)? " + root;
  return "root ::= " + root + "\n" + rules;
}

std::string request_grammar(const json& body) {
  const auto present = [&](const char* name) {
    auto it = body.find(name);
    return it != body.end() && !it->is_null();
  };
  const int given = present("response_format") + present("grammar") + present("json_schema");
  std::string grammar;
  if (present("response_format")) grammar = from_response_format(body["response_format"]);
  if (present("json_schema")) grammar = from_schema(body["json_schema"], false, "json_schema");
  if (present("grammar")) {
    if (!body["grammar"].is_string()) throw bad_request("'grammar' must be a string of GBNF", "grammar");
    grammar = body["grammar"].get<std::string>();
    try {
      Grammar::parse(grammar);  // here, so that a bad grammar is the request's 400 and names the field
    } catch (const Error& e) {
      throw bad_request(e.what(), "grammar");
    }
  }
  // response_format: text is no constraint, so it combines with anything.
  if (given > 1 &&
      !(given == 2 && present("response_format") && from_response_format(body["response_format"]).empty())) {
    throw bad_request("give one of 'response_format', 'grammar' and 'json_schema'", "grammar");
  }
  return grammar;
}

std::string ollama_format_grammar(const json& format) {
  if (format.is_null() || (format.is_string() && format.get<std::string>().empty())) return "";
  if (format.is_string()) {
    if (format.get<std::string>() != "json") throw bad_request("'format' must be \"json\" or a JSON Schema", "format");
    return json_object_gbnf();
  }
  return from_schema(format, false, "format");
}

}  // namespace ternion::server
