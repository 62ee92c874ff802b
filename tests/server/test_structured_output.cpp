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

}  // namespace
}  // namespace ternion::server
