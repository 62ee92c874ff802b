// JSON Schema to GBNF: the grammar accepts the schema's instances and rejects others.
#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ternion/core/error.h"
#include "ternion/sampling/grammar.h"
#include "ternion/sampling/grammar_matcher.h"
#include "ternion/sampling/json_schema.h"

namespace ternion {
namespace {

std::shared_ptr<const GrammarVocab> byte_vocab() {
  std::vector<std::string> pieces;
  for (int b = 0; b < 256; ++b) pieces.emplace_back(1, static_cast<char>(b));
  return std::make_shared<const GrammarVocab>(std::move(pieces), std::vector<bool>(256, false));
}

bool accepts(const std::string& gbnf, const std::string& text) {
  GrammarMatcher m(std::make_shared<const Grammar>(Grammar::parse(gbnf)), byte_vocab());
  return m.accept_text(text) && m.can_end();
}

struct Case {
  const char* schema;
  std::vector<const char*> valid;
  std::vector<const char*> invalid;
};

const Case kCases[] = {
    {R"({"type": "string"})", {R"("")", R"("a b\"\\\u00e9")", "\"\xc3\xa9\""}, {"1", R"("a)", "\"a\nb\""}},
    {R"({"type": "string", "minLength": 2, "maxLength": 3})", {R"("ab")", R"("a\nc")"}, {R"("a")", R"("abcd")"}},
    {R"({"type": "integer"})", {"0", "-12", "7 "}, {"01", "1.5", "-", "1e3"}},
    {R"({"type": "number"})", {"0", "-1.25", "3e10", "2.5E-3", "1e05"}, {".5", "1.", "+1", "1e100"}},
    {R"({"type": "boolean"})", {"true", "false"}, {"True", "1"}},
    {R"({"type": "null"})", {"null"}, {"nil", ""}},
    {R"({"type": ["integer", "null"]})", {"null", "4"}, {"\"4\""}},
    {R"({"enum": ["red", 2, null, {"a": 1}]})", {R"("red")", "2", "null", R"({"a":1})"}, {R"("blue")", "3"}},
    {R"({"const": "x"})", {R"("x")"}, {R"("y")"}},
    {R"({"anyOf": [{"type": "integer"}, {"type": "string", "maxLength": 1}]})", {"3", R"("a")"}, {R"("ab")", "true"}},
    {R"({"oneOf": [{"type": "boolean"}, {"type": "null"}]})", {"true", "null"}, {"0"}},
    {R"({"type": "array", "items": {"type": "integer"}})", {"[]", "[1, 2,3]", "[\n  1\n]"}, {"[1,]", "[\"a\"]"}},
    {R"({"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 2})",
     {"[1]", "[1, 2]"},
     {"[]", "[1,2,3]"}},
    {R"({"type": "array", "maxItems": 0})", {"[]"}, {"[1]"}},
    {R"({"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}]})",
     {R"([1, "a"])"},
     {R"(["a", 1])", "[1]"}},
    {R"({"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"}},
         "required": ["a"], "additionalProperties": false})",
     {R"({"a": 1})", R"({"a": 1, "b": "x"})", R"({ "a" : 1 })"},
     {R"({})", R"({"b": "x"})", R"({"a": 1, "c": 2})", R"({"a": "1"})", R"({"b": "x", "a": 1})"}},
    {R"({"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"},
         "c": {"type": "integer"}}, "additionalProperties": false})",
     {"{}", R"({"b": 2})", R"({"a": 1, "c": 3})", R"({"a": 1, "b": 2, "c": 3})"},
     {R"({"c": 3, "a": 1})", R"({,"a": 1})", R"({"a": 1,})"}},
    {R"({"type": "object", "properties": {"a": {"type": "integer"}}})",
     {R"({"a": 1, "z": [true]})", R"({"z": null})"},
     {R"({"a": "x"})"}},
    {R"({"type": "object", "properties": {"a": {"type": "integer"}, "ab": {"type": "integer"}},
         "additionalProperties": {"type": "string"}})",
     {R"({"a": 1, "abc": "x"})", R"({"b": "y", "": "z"})", R"({"ab": 2, "é": "w"})"},
     {R"({"a": "x"})", R"({"ab": "x"})", R"({"c": "x", "a": "y"})"}},
    {R"({"type": "object", "additionalProperties": {"type": "integer"}})",
     {R"({"x": 1, "y": 2})", "{}"},
     {R"({"x": "1"})"}},
    {R"({"$defs": {"node": {"type": "object", "properties": {"v": {"type": "integer"},
         "next": {"anyOf": [{"$ref": "#/$defs/node"}, {"type": "null"}]}},
         "required": ["v", "next"], "additionalProperties": false}}, "$ref": "#/$defs/node"})",
     {R"({"v": 1, "next": {"v": 2, "next": null}})"},
     {R"({"v": 1, "next": {"v": 2}})"}},
    {R"({"definitions": {"d": {"type": "string", "format": "date"}},
         "type": "object", "properties": {"when": {"$ref": "#/definitions/d"}}, "required": ["when"],
         "additionalProperties": false})",
     {R"({"when": "2026-12-07"})"},
     {R"({"when": "2026-13-07"})", R"({"when": "today"})"}},
    {R"({"type": "string", "format": "uuid"})", {R"("123e4567-e89b-12d3-a456-426614174000")"}, {R"("123")"}},
    {R"({"type": "string", "format": "date-time"})", {R"("2026-12-07T18:30:00Z")"}, {R"("2026-12-07")"}},
    {R"({})", {R"({"any": [1, "thing"]})", "3", R"("s")"}, {"{"}},
    {R"({"properties": {"k\"ey": {"const": "v\n"}}, "required": ["k\"ey"], "additionalProperties": false})",
     {R"({"k\"ey": "v\n"})"},
     {R"({"key": "v\n"})"}},
};

TEST(JsonSchema, GrammarAcceptsInstancesAndRejectsOthers) {
  for (const Case& c : kCases) {
    const std::string gbnf = json_schema_to_gbnf(std::string_view(c.schema));
    for (const char* v : c.valid) EXPECT_TRUE(accepts(gbnf, v)) << c.schema << "\nshould accept " << v << "\n" << gbnf;
    for (const char* v : c.invalid) {
      EXPECT_FALSE(accepts(gbnf, v)) << c.schema << "\nshould reject " << v << "\n" << gbnf;
    }
  }
}

TEST(JsonSchema, JsonObjectIsAnyObject) {
  const std::string g = json_object_gbnf();
  EXPECT_TRUE(accepts(g, R"({"a": {"b": [1, 2.5, "c", null, true]}})"));
  EXPECT_TRUE(accepts(g, "{}"));
  EXPECT_FALSE(accepts(g, "[]"));
  EXPECT_FALSE(accepts(g, R"({"a": })"));
}

TEST(JsonSchema, UnsupportedAndMalformedSchemasAreErrors) {
  auto error = [](const char* schema) {
    try {
      json_schema_to_gbnf(std::string_view(schema));
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_EQ(error(R"({"type": "string", "pattern": "^a+$"})"), "json schema: #: 'pattern' is not supported");
  EXPECT_EQ(error(R"({"properties": {"n": {"type": "integer", "minimum": 0}}})"),
            "json schema: #/properties/n: 'minimum' is not supported");
  EXPECT_EQ(error(R"({"type": "date"})"), "json schema: #: unknown type 'date'");
  EXPECT_EQ(error(R"({"$ref": "#/$defs/missing"})"), "json schema: #: reference '#/$defs/missing' does not resolve");
  EXPECT_EQ(error(R"({"$ref": "http://x/y"})"),
            "json schema: #: only local references (#/...) are supported, got 'http://x/y'");
  EXPECT_EQ(error(R"({"type": "object", "required": ["a"]})"),
            "json schema: #: required property 'a' is not in 'properties'");
  EXPECT_EQ(error(R"({"type": "string", "maxLength": 100000})"),
            "json schema: #: 'maxLength' above the limit of 10000");
  EXPECT_EQ(error(R"({"type": "array", "minItems": 3, "maxItems": 2})"), "json schema: #: maxItems is below minItems");
  EXPECT_EQ(error("false"), "json schema: #: the schema 'false' matches nothing");
  EXPECT_EQ(error("[1]"), "json schema: #: a schema must be an object or a boolean");
  EXPECT_EQ(error(R"({"enum": []})"), "json schema: #/enum: expected a non-empty array");
  EXPECT_NE(error("{nope").find("json schema: not valid JSON"), std::string::npos);
  // Deep nesting is bounded.
  std::string deep = "{}";
  for (int i = 0; i < 100; ++i) deep = R"({"type": "array", "items": )" + deep + "}";
  EXPECT_NE(error(deep.c_str()).find("nested deeper than"), std::string::npos);
}

TEST(JsonSchema, ManyOptionalPropertiesGrowLinearly) {
  nlohmann::ordered_json schema = {{"type", "object"}, {"additionalProperties", false}};
  for (int i = 0; i < 40; ++i) schema["properties"]["p" + std::to_string(i)] = {{"type", "integer"}};
  const std::string g = json_schema_to_gbnf(schema);
  EXPECT_LT(g.size(), 20'000u);
  EXPECT_TRUE(accepts(g, R"({"p3": 1, "p39": 2})"));
  EXPECT_FALSE(accepts(g, R"({"p39": 2, "p3": 1})"));
}

TEST(JsonSchema, RuleNamesNeverCollide) {
  // Property names that look like generated rule names, and many alternatives under one name.
  nlohmann::ordered_json schema = nlohmann::ordered_json::parse(R"({"type": "object", "properties": {
      "other-key": {"type": "integer"}, "other-key1": {"type": "string", "maxLength": 2}, "a0": {"type": "boolean"},
      "b1": {"const": 1}}, "additionalProperties": {"type": "null"}})");
  const std::string g = json_schema_to_gbnf(schema);
  EXPECT_TRUE(accepts(g, R"({"other-key": 1, "other-key1": "ab", "a0": true, "b1": 1, "x": null})"));
  EXPECT_FALSE(accepts(g, R"({"other-key": 1, "other-key1": null})"));
  nlohmann::ordered_json many = {{"anyOf", nlohmann::ordered_json::array()}};
  for (int i = 0; i < 1000; ++i) many["anyOf"].push_back({{"const", i}});
  EXPECT_TRUE(accepts(json_schema_to_gbnf(many), "999"));
  for (int i = 0; i < 10000; ++i) many["anyOf"].push_back({{"const", i}});
  EXPECT_THROW(json_schema_to_gbnf(many), Error);  // past the rule limit
}

TEST(JsonSchema, LiteralEscapes) {
  EXPECT_EQ(gbnf_literal("a\"b\\c\n\r\t\x01\x7f\xc3\xa9"), "\"a\\\"b\\\\c\\n\\r\\t\\x01\\x7F\xc3\xa9\"");
}

}  // namespace
}  // namespace ternion
