// Tool calls in replies: each family's format, several calls, content around them, malformed calls left as text
// with a reason, the format picked from real chat templates, and random and truncated replies (no crash, content
// streamed before a call never taken back).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "support/test_support.h"
#include "ternion/engine/tool_calls.h"

namespace ternion {
namespace {

using Json = nlohmann::json;

Json args(const ToolCall& c) { return Json::parse(c.arguments); }

std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(ToolCalls, HermesOneAndSeveral) {
  const auto r = parse_tool_calls(
      "Let me look.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\n"
      "<tool_call>{\"name\":\"get_time\",\"arguments\":{\"tz\":\"CET\",\"n\":[1,{\"a\":\"}\"}]}}</tool_call>",
      ToolCallFormat::kHermes);
  ASSERT_EQ(r.calls.size(), 2u) << r.error;
  EXPECT_EQ(r.calls[0].name, "get_weather");
  EXPECT_EQ(args(r.calls[0]), Json::parse(R"({"city":"Paris"})"));
  EXPECT_EQ(r.calls[1].name, "get_time");
  EXPECT_EQ(args(r.calls[1])["n"][1]["a"], "}") << "a brace inside a string does not end the object";
  EXPECT_EQ(r.content, "Let me look.");
  EXPECT_TRUE(r.error.empty()) << r.error;
}

TEST(ToolCalls, HermesArgumentsAsStringOrAbsentAndUnclosedAtTheEnd) {
  auto r = parse_tool_calls(R"(<tool_call>{"name":"f","arguments":"{\"x\": 1}"}</tool_call>)", ToolCallFormat::kHermes);
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_EQ(args(r.calls[0])["x"], 1);
  r = parse_tool_calls(R"(<tool_call>{"name":"ping"})", ToolCallFormat::kHermes);
  ASSERT_EQ(r.calls.size(), 1u) << "a reply ending after the JSON (stopped before </tool_call>) is a call";
  EXPECT_EQ(r.calls[0].arguments, "{}");
  EXPECT_EQ(r.content, "");
}

TEST(ToolCalls, HermesMalformedStaysContentWithAReason) {
  const std::string broken = "<tool_call>{\"name\": \"f\", \"arguments\": {\"x\": 1</tool_call>";
  auto r = parse_tool_calls(broken + "\n<tool_call>{\"name\":\"g\"}</tool_call>", ToolCallFormat::kHermes);
  ASSERT_EQ(r.calls.size(), 1u) << "the good call after a broken one is still found";
  EXPECT_EQ(r.calls[0].name, "g");
  EXPECT_EQ(r.content, broken);
  EXPECT_NE(r.error.find("<tool_call> left as text"), std::string::npos) << r.error;
  for (const char* bad : {"<tool_call>{\"arguments\":{}}</tool_call>", "<tool_call>{\"name\":\"f\"} x</tool_call>",
                          "<tool_call>[]</tool_call>", "<tool_call>{\"name\":\"f\",\"arguments\":[1]}</tool_call>",
                          "<tool_call>{\"name\":\"f\",\"arguments\":\"nope\"}</tool_call>",
                          "<tool_call>{bad}</tool_call>", "<tool_call>hello</tool_call>", "<tool_call>"}) {
    r = parse_tool_calls(bad, ToolCallFormat::kHermes);
    EXPECT_TRUE(r.calls.empty()) << bad;
    EXPECT_EQ(r.content, bad);
    EXPECT_FALSE(r.error.empty()) << bad;
    EXPECT_EQ(r.error.find('\n'), std::string::npos);
  }
}

TEST(ToolCalls, Llama3WholeReplyOrAfterPythonTag) {
  auto r =
      parse_tool_calls(" {\"name\": \"get_weather\", \"parameters\": {\"city\": \"Oslo\"}}", ToolCallFormat::kLlama3);
  ASSERT_EQ(r.calls.size(), 1u) << r.error;
  EXPECT_EQ(args(r.calls[0])["city"], "Oslo");
  EXPECT_EQ(r.content, "");
  r = parse_tool_calls(
      "Checking.<|python_tag|>{\"name\": \"a\", \"parameters\": {}}; {\"name\": \"b\", \"parameters\": {}}",
      ToolCallFormat::kLlama3);
  ASSERT_EQ(r.calls.size(), 2u) << r.error;
  EXPECT_EQ(r.calls[1].name, "b");
  EXPECT_EQ(r.content, "Checking.");
  r = parse_tool_calls("The answer is {x}.", ToolCallFormat::kLlama3);
  EXPECT_TRUE(r.calls.empty());
  EXPECT_TRUE(r.error.empty()) << "plain text is not a malformed call";
  r = parse_tool_calls("{\"name\": \"a\", \"parameters\": {\"q\": ", ToolCallFormat::kLlama3);
  EXPECT_TRUE(r.calls.empty());
  EXPECT_NE(r.error.find("unterminated"), std::string::npos) << r.error;
  r = parse_tool_calls("<|python_tag|>brave_search.call(query=\"x\")", ToolCallFormat::kLlama3);
  EXPECT_TRUE(r.calls.empty());
  EXPECT_NE(r.error.find("<|python_tag|> left as text"), std::string::npos) << r.error;
}

TEST(ToolCalls, MistralListAndNamedForms) {
  auto r = parse_tool_calls(
      "[TOOL_CALLS][{\"name\": \"f\", \"arguments\": {\"a\": 1}, \"id\": \"abcDEF123\"}, {\"name\": \"g\", "
      "\"arguments\": {}}]",
      ToolCallFormat::kMistral);
  ASSERT_EQ(r.calls.size(), 2u) << r.error;
  EXPECT_EQ(r.calls[0].id, "abcDEF123");
  EXPECT_EQ(args(r.calls[0])["a"], 1);
  EXPECT_EQ(r.calls[1].name, "g");
  r = parse_tool_calls("Sure.[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Rome\"}[TOOL_CALLS]ping[CALL_ID]x1[ARGS]{}",
                       ToolCallFormat::kMistral);
  ASSERT_EQ(r.calls.size(), 2u) << r.error;
  EXPECT_EQ(r.calls[0].name, "get_weather");
  EXPECT_EQ(args(r.calls[0])["city"], "Rome");
  EXPECT_EQ(r.calls[1].name, "ping");
  EXPECT_EQ(r.calls[1].id, "x1");
  EXPECT_EQ(r.content, "Sure.");
  for (const char* bad : {"[TOOL_CALLS]", "[TOOL_CALLS]f", "[TOOL_CALLS]two words[ARGS]{}", "[TOOL_CALLS][1]",
                          "[TOOL_CALLS]f[ARGS]nope", "[TOOL_CALLS]f[ARGS][1]", "[TOOL_CALLS][{\"name\":\"f\"}"}) {
    r = parse_tool_calls(bad, ToolCallFormat::kMistral);
    EXPECT_TRUE(r.calls.empty()) << bad;
    EXPECT_EQ(r.content, bad);
    EXPECT_NE(r.error.find("[TOOL_CALLS] left as text"), std::string::npos) << bad << ": " << r.error;
  }
}

TEST(ToolCalls, NoFormatKeepsEverythingAsContent) {
  const auto r = parse_tool_calls("<tool_call>{\"name\":\"f\"}</tool_call>", ToolCallFormat::kNone);
  EXPECT_TRUE(r.calls.empty());
  EXPECT_EQ(r.content, "<tool_call>{\"name\":\"f\"}</tool_call>");
  EXPECT_STREQ(tool_call_format_name(ToolCallFormat::kNone), "none");
  EXPECT_STREQ(tool_call_format_name(ToolCallFormat::kMistral), "mistral");
}

TEST(ToolCalls, DeepJsonIsRefusedNotRecursedInto) {
  const std::string deep = "<tool_call>{\"name\":\"f\",\"arguments\":" + std::string(100000, '[') + "</tool_call>";
  const auto r = parse_tool_calls(deep, ToolCallFormat::kHermes);
  EXPECT_TRUE(r.calls.empty());
  EXPECT_NE(r.error.find("nested deeper"), std::string::npos) << r.error;
}

TEST(ToolCalls, FormatFromTheFixtureTemplates) {
  const std::pair<const char*, ToolCallFormat> cases[] = {
      {"Qwen-Qwen2.5-7B-Instruct.jinja", ToolCallFormat::kHermes},
      {"NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja", ToolCallFormat::kHermes},
      {"meta-llama-Llama-3.1-8B-Instruct.jinja", ToolCallFormat::kLlama3},
      {"meta-llama-Llama-3.2-3B-Instruct.jinja", ToolCallFormat::kLlama3},
      {"meta-llama-Llama-3.3-70B-Instruct.jinja", ToolCallFormat::kLlama3},
      {"mistralai-Mistral-Nemo-Instruct-2407.jinja", ToolCallFormat::kMistral},
      {"google-gemma-2-2b-it.jinja", ToolCallFormat::kNone},
      {"meetkai-functionary-medium-v3.1.jinja", ToolCallFormat::kNone},
      {"CohereForAI-c4ai-command-r-plus-tool_use.jinja", ToolCallFormat::kNone},
  };
  for (const auto& [file, format] : cases) {
    const auto path = test::fixture(std::string("templates/") + file);
    TERNION_REQUIRE_FIXTURE(path);
    EXPECT_EQ(detect_tool_call_format(read_text(path)), format) << file;
  }
}

TEST(ToolCalls, StreamingHoldsBackWhatMayStartACall) {
  EXPECT_EQ(tool_call_content_end("Hello <tool_ca", ToolCallFormat::kHermes), 6u);
  EXPECT_EQ(tool_call_content_end("Hello <b>", ToolCallFormat::kHermes), 9u);
  EXPECT_EQ(tool_call_content_end("a <tool_call>{", ToolCallFormat::kHermes), 2u);
  EXPECT_EQ(tool_call_content_end("x[TOOL", ToolCallFormat::kMistral), 1u);
  EXPECT_EQ(tool_call_content_end("  ", ToolCallFormat::kLlama3), 0u);
  EXPECT_EQ(tool_call_content_end(" {\"na", ToolCallFormat::kLlama3), 0u);
  EXPECT_EQ(tool_call_content_end("Hi<|py", ToolCallFormat::kLlama3), 2u);
  EXPECT_EQ(tool_call_content_end("Hi <tool_call>", ToolCallFormat::kNone), 14u);
}

// Trims as parse_tool_calls does, to compare streamed content with the final content.
std::string trimmed(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

TEST(ToolCalls, TruncatedRepliesNeverCrashAndStreamedContentStays) {
  const std::pair<ToolCallFormat, std::string> replies[] = {
      {ToolCallFormat::kHermes,
       "I will call it.\n<tool_call>\n{\"name\": \"f\", \"arguments\": {\"s\": \"a\\\"}b\"}}\n</tool_call>\ndone"},
      {ToolCallFormat::kLlama3, "Sure<|python_tag|>{\"name\": \"f\", \"parameters\": {\"k\": [1, 2]}}"},
      {ToolCallFormat::kLlama3, "{\"name\": \"f\", \"parameters\": {}}"},
      {ToolCallFormat::kMistral, "ok [TOOL_CALLS][{\"name\": \"f\", \"arguments\": {\"x\": \"]\"}}] after"},
      {ToolCallFormat::kMistral, "[TOOL_CALLS]f[CALL_ID]id9[ARGS]{\"x\": {\"y\": null}}"},
  };
  for (const auto& [format, full] : replies) {
    const ParsedReply whole = parse_tool_calls(full, format);
    ASSERT_EQ(whole.calls.size(), 1u) << full << ": " << whole.error;
    for (size_t n = 0; n <= full.size(); ++n) {
      const std::string prefix = full.substr(0, n);
      const ParsedReply part = parse_tool_calls(prefix, format);
      for (const ToolCall& c : part.calls) EXPECT_TRUE(Json::parse(c.arguments).is_object()) << prefix;
      const size_t safe = tool_call_content_end(prefix, format);
      ASSERT_LE(safe, prefix.size());
      EXPECT_EQ(whole.content.rfind(trimmed(prefix.substr(0, safe)), 0), 0u)
          << "streamed '" << prefix.substr(0, safe) << "' is not the start of '" << whole.content << "'";
    }
  }
}

TEST(ToolCalls, RandomTextNeverCrashes) {
  const std::vector<std::string> pieces = {"<tool_call>",
                                           "</tool_call>",
                                           "[TOOL_CALLS]",
                                           "[ARGS]",
                                           "[CALL_ID]",
                                           "<|python_tag|>",
                                           "{",
                                           "}",
                                           "[",
                                           "]",
                                           "\"",
                                           "\\",
                                           ":",
                                           ",",
                                           ";",
                                           "\"name\"",
                                           "\"arguments\"",
                                           "\"parameters\"",
                                           "\"f\"",
                                           " ",
                                           "\n",
                                           "x",
                                           "1",
                                           "null",
                                           "\xff",
                                           "\xe2\x82"};
  std::mt19937 rng(21);
  const ToolCallFormat formats[] = {ToolCallFormat::kHermes, ToolCallFormat::kLlama3, ToolCallFormat::kMistral};
  // A valid call per format, put among the random pieces half the time.
  const std::string calls[] = {"<tool_call>{\"name\":\"f\",\"arguments\":{\"a\":[1]}}</tool_call>",
                               "{\"name\":\"f\",\"parameters\":{}}", "[TOOL_CALLS]f[ARGS]{\"a\":{}}"};
  size_t found = 0;
  for (int i = 0; i < 20000; ++i) {
    const size_t f = rng() % 3;
    std::string text;
    const size_t n = rng() % 24;
    for (size_t k = 0; k < n; ++k) text += pieces[rng() % pieces.size()];
    if (rng() % 2 == 0) text.insert(f == 1 ? 0 : rng() % (text.size() + 1), calls[f]);
    const ToolCallFormat format = formats[f];
    ParsedReply r;
    ASSERT_NO_THROW(r = parse_tool_calls(text, format)) << text;
    ASSERT_LE(tool_call_content_end(text, format), text.size());
    for (const ToolCall& c : r.calls) {
      EXPECT_FALSE(c.name.empty());
      EXPECT_TRUE(Json::parse(c.arguments, nullptr, false).is_object()) << text;
    }
    if (r.calls.empty() && r.error.empty()) {
      EXPECT_EQ(r.content, text);
    }
    found += r.calls.size();
  }
  EXPECT_GT(found, 0u) << "the random texts should contain some valid calls";
}

}  // namespace
}  // namespace ternion
