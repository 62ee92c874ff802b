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

}  // namespace

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
