// The request fields of structured output mapped to grammars: what each gives, and 400s naming the field.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "ternion/sampling/grammar.h"
#include "ternion/sampling/grammar_matcher.h"
#include "ternion/sampling/json_schema.h"
#include "ternion/server/api_error.h"
#include "ternion/server/structured_output.h"

namespace ternion::server {
namespace {

using json = nlohmann::json;

bool accepts(const std::string& gbnf, const std::string& text) {
  std::vector<std::string> pieces(1, "x");
  auto vocab = std::make_shared<const GrammarVocab>(std::move(pieces), std::vector<bool>{false});
  GrammarMatcher m(std::make_shared<const Grammar>(Grammar::parse(gbnf)), vocab);
  return m.accept_text(text) && m.can_end();
}

// The 400's parameter and message, or ("", "") when there is none.
std::pair<std::string, std::string> error_of(const json& body) {
  try {
    request_grammar(body);
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 400);
    return {e.param(), e.what()};
  }
  return {"", ""};
}

TEST(StructuredOutput, ResponseFormats) {
  EXPECT_EQ(request_grammar(json::object()), "");
  EXPECT_EQ(request_grammar({{"response_format", {{"type", "text"}}}}), "");
  EXPECT_EQ(request_grammar({{"response_format", nullptr}}), "");
  EXPECT_EQ(request_grammar({{"response_format", {{"type", "json_object"}}}}), json_object_gbnf());
  const json schema = {{"type", "object"},
                       {"properties", {{"b", {{"type", "integer"}}}, {"a", {{"type", "string"}}}}},
                       {"required", {"a", "b"}}};
  const std::string loose = request_grammar(
      {{"response_format", {{"type", "json_schema"}, {"json_schema", {{"name", "x"}, {"schema", schema}}}}}});
  const std::string strict = request_grammar(
      {{"response_format",
        {{"type", "json_schema"}, {"json_schema", {{"name", "x"}, {"schema", schema}, {"strict", true}}}}}});
  EXPECT_TRUE(accepts(loose, R"({"a": "x", "b": 1, "c": 2})"));
  EXPECT_TRUE(accepts(strict, R"({"a": "x", "b": 1})"));
  EXPECT_FALSE(accepts(strict, R"({"a": "x", "b": 1, "c": 2})"));  // strict: no extra keys
  EXPECT_FALSE(accepts(strict, R"({"b": 1})"));
  // No schema: any object.
  EXPECT_EQ(request_grammar({{"response_format", {{"type", "json_schema"}, {"json_schema", {{"name", "x"}}}}}}),
            json_object_gbnf());
}

TEST(StructuredOutput, GrammarAndJsonSchemaFields) {
  EXPECT_EQ(request_grammar({{"grammar", "root ::= \"yes\" | \"no\""}}), "root ::= \"yes\" | \"no\"");
  const std::string g = request_grammar({{"json_schema", {{"type", "array"}, {"items", {{"type", "boolean"}}}}}});
  EXPECT_TRUE(accepts(g, "[true, false]"));
  EXPECT_FALSE(accepts(g, "[1]"));
  EXPECT_EQ(request_grammar({{"grammar", "root ::= \"a\""}, {"response_format", {{"type", "text"}}}}),
            "root ::= \"a\"");
}

TEST(StructuredOutput, ErrorsNameTheField) {
  EXPECT_EQ(error_of({{"response_format", "json"}}).first, "response_format");
  EXPECT_EQ(error_of({{"response_format", {{"type", "yaml"}}}}).second,
            "'response_format.type' must be 'text', 'json_object' or 'json_schema', got 'yaml'");
  EXPECT_EQ(error_of({{"response_format", {{"type", "json_schema"}}}}).first, "response_format");
  EXPECT_EQ(error_of({{"response_format", {{"type", "json_schema"}, {"json_schema", {{"schema", 3}}}}}}).first,
            "response_format");
  EXPECT_EQ(error_of({{"response_format",
                       {{"type", "json_schema"}, {"json_schema", {{"schema", json::object()}, {"strict", "yes"}}}}}})
                .second,
            "'response_format.json_schema.strict' must be a boolean");
  const auto pattern =
      error_of({{"response_format",
                 {{"type", "json_schema"}, {"json_schema", {{"schema", {{"type", "string"}, {"pattern", "a+"}}}}}}}});
  EXPECT_EQ(pattern,
            std::make_pair(std::string("response_format"), std::string("json schema: #: 'pattern' is not supported")));
  EXPECT_EQ(error_of({{"grammar", 3}}).first, "grammar");
  EXPECT_EQ(error_of({{"grammar", "root ::= ("}}).second,
            "grammar: line 1, column 11: expected ')' to close the group");
  EXPECT_EQ(error_of({{"grammar", "root ::= \"a\""}, {"json_schema", json::object()}}).second,
            "give one of 'response_format', 'grammar' and 'json_schema'");
}

TEST(StructuredOutput, OllamaFormat) {
  EXPECT_EQ(ollama_format_grammar(nullptr), "");
  EXPECT_EQ(ollama_format_grammar(""), "");
  EXPECT_EQ(ollama_format_grammar("json"), json_object_gbnf());
  const std::string g = ollama_format_grammar({{"type", "object"}, {"properties", {{"n", {{"type", "integer"}}}}}});
  EXPECT_TRUE(accepts(g, R"({"n": 3})"));
  EXPECT_FALSE(accepts(g, R"({"n": "3"})"));
  EXPECT_THROW(ollama_format_grammar("yaml"), ApiError);
  EXPECT_THROW(ollama_format_grammar(3), ApiError);
}

const json kCallTools = json::parse(R"([
  {"type": "function", "function": {"name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
  {"type": "function", "function": {"name": "now"}}
])");

// Text the grammar of a format admits, and what the call parser reads from it.
void expect_call(const std::string& gbnf, ToolCallFormat format, const std::string& text, const std::string& name,
                 size_t n_calls = 1) {
  EXPECT_TRUE(accepts(gbnf, text)) << text << "\n" << gbnf;
  const ParsedReply r = parse_tool_calls(text, format);
  ASSERT_EQ(r.calls.size(), n_calls) << text << " " << r.error;
  EXPECT_EQ(r.calls[0].name, name);
}

TEST(StructuredOutput, ToolCallGrammarPerFormat) {
  const std::string hermes = tool_call_grammar(kCallTools, "", ToolCallFormat::kHermes, true, false);
  expect_call(hermes, ToolCallFormat::kHermes,
              "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>",
              "get_weather");
  expect_call(hermes, ToolCallFormat::kHermes,
              "<tool_call>\n{\"name\": \"now\", \"arguments\": {}}\n</tool_call>\n<tool_call>\n{\"name\": \"now\", "
              "\"arguments\": {\"x\": 1}}\n</tool_call>",
              "now", 2);
  // Arguments checked against the parameters; unknown names, missing markers and plain text refused.
  EXPECT_FALSE(accepts(hermes, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {}}\n</tool_call>"));
  EXPECT_FALSE(accepts(hermes, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": 3}}\n</tool_call>"));
  EXPECT_FALSE(accepts(hermes, "<tool_call>\n{\"name\": \"other\", \"arguments\": {}}\n</tool_call>"));
  EXPECT_FALSE(accepts(hermes, "{\"name\": \"now\", \"arguments\": {}}"));
  EXPECT_FALSE(accepts(hermes, "Sure."));
  EXPECT_FALSE(accepts(hermes, ""));
  // One call only without parallel calls; a named function only that one.
  const std::string single = tool_call_grammar(kCallTools, "now", ToolCallFormat::kHermes, false, false);
  expect_call(single, ToolCallFormat::kHermes, "<tool_call>\n{\"name\": \"now\", \"arguments\": {}}\n</tool_call>",
              "now");
  EXPECT_FALSE(accepts(single,
                       "<tool_call>\n{\"name\": \"now\", \"arguments\": {}}\n</tool_call>\n<tool_call>\n{\"name\": "
                       "\"now\", \"arguments\": {}}\n</tool_call>"));
  EXPECT_FALSE(
      accepts(single, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"P\"}}\n</tool_call>"));
  // After an opened thinking.
  const std::string thinking = tool_call_grammar(kCallTools, "now", ToolCallFormat::kHermes, false, true);
  EXPECT_TRUE(
      accepts(thinking, "hmm, the time</think>\n\n<tool_call>\n{\"name\": \"now\", \"arguments\": {}}\n</tool_call>"));
  EXPECT_TRUE(accepts(thinking, "<tool_call>\n{\"name\": \"now\", \"arguments\": {}}\n</tool_call>"));

  const std::string llama = tool_call_grammar(kCallTools, "", ToolCallFormat::kLlama3, true, false);
  expect_call(llama, ToolCallFormat::kLlama3, "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Rome\"}}",
              "get_weather");
  EXPECT_FALSE(accepts(llama, "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\"}}"));
  const std::string mistral = tool_call_grammar(kCallTools, "", ToolCallFormat::kMistral, true, false);
  expect_call(
      mistral, ToolCallFormat::kMistral,
      "[TOOL_CALLS][{\"name\": \"now\", \"arguments\": {}}, {\"name\": \"get_weather\", \"arguments\": {\"city\": "
      "\"Oslo\"}}]",
      "now", 2);
  EXPECT_FALSE(accepts(mistral, "[TOOL_CALLS][]"));
  const std::string one_mistral = tool_call_grammar(kCallTools, "", ToolCallFormat::kMistral, false, false);
  EXPECT_FALSE(accepts(one_mistral,
                       "[TOOL_CALLS][{\"name\": \"now\", \"arguments\": {}}, {\"name\": \"now\", "
                       "\"arguments\": {}}]"));
}

TEST(StructuredOutput, ToolCallGrammarErrors) {
  const auto param_of = [](const json& tools, const std::string& name, ToolCallFormat f) {
    try {
      tool_call_grammar(tools, name, f, true, false);
    } catch (const ApiError& e) {
      EXPECT_EQ(e.status(), 400);
      return std::string(e.param()) + ": " + e.what();
    }
    return std::string();
  };
  EXPECT_NE(
      param_of(kCallTools, "nope", ToolCallFormat::kHermes).find("tool_choice: tool_choice names the function 'nope'"),
      std::string::npos);
  EXPECT_NE(param_of(kCallTools, "", ToolCallFormat::kNone).find("has none"), std::string::npos);
  const json bad = json::parse(
      R"([{"type": "function", "function": {"name": "f", "parameters": {"type": "integer", "minimum": 3}}}])");
  EXPECT_NE(param_of(bad, "", ToolCallFormat::kHermes).find("tools: "), std::string::npos);
  const json not_object = json::parse(R"([{"type": "function", "function": {"name": "f", "parameters": 3}}])");
  EXPECT_NE(param_of(not_object, "", ToolCallFormat::kHermes).find("must be a JSON Schema object"), std::string::npos);
}

}  // namespace
}  // namespace ternion::server
