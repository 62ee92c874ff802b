// The reply parser: thinking split from the answer, tool calls held back while streaming and parsed at the end.
// Every split of a reply into pieces must give what the whole reply gives.
#include <gtest/gtest.h>

#include <random>

#include "ternion/server/reply_parser.h"

namespace ternion::server {
namespace {

// The parts of `text` fed in pieces cut at `cuts` (sorted offsets), joined; `streamed` gets the content that was
// released before finish().
ReplyPart run(const ReplyOptions& o, const std::string& text, const std::vector<size_t>& cuts,
              std::string* streamed = nullptr) {
  ReplyParser p(o);
  ReplyPart all;
  size_t at = 0;
  for (size_t c : cuts) {
    ReplyPart part = p.feed(std::string_view(text).substr(at, c - at));
    EXPECT_TRUE(part.calls.empty()) << "calls come only from finish()";
    all.reasoning += part.reasoning;
    all.content += part.content;
    at = c;
  }
  ReplyPart part = p.feed(std::string_view(text).substr(at));
  all.reasoning += part.reasoning;
  all.content += part.content;
  if (streamed != nullptr) *streamed = all.content;
  ReplyPart last = p.finish();
  all.reasoning += last.reasoning;
  all.content += last.content;
  all.calls = last.calls;
  return all;
}

// Every cut into two pieces, and random cuts into many.
void expect_every_split(const ReplyOptions& o, const std::string& text, const std::string& reasoning,
                        const std::string& content, size_t n_calls) {
  std::mt19937 rng(7);
  std::vector<std::vector<size_t>> splits = {{}};
  for (size_t i = 0; i <= text.size(); ++i) splits.push_back({i});
  for (int r = 0; r < 50; ++r) {
    std::vector<size_t> cuts;
    for (size_t i = 0; i < text.size(); ++i) {
      if (rng() % 3 == 0) cuts.push_back(i);
    }
    splits.push_back(cuts);
  }
  for (const auto& cuts : splits) {
    std::string streamed;
    const ReplyPart got = run(o, text, cuts, &streamed);
    ASSERT_EQ(got.reasoning, reasoning) << text << " cut " << cuts.size();
    ASSERT_EQ(got.content, content) << text << " cut " << cuts.size();
    ASSERT_EQ(got.calls.size(), n_calls) << text;
    if (o.tool_format != ToolCallFormat::kNone) {
      EXPECT_EQ(streamed.find("<tool_call>"), std::string::npos) << "a call marker was streamed as content";
      EXPECT_EQ(streamed.find("[TOOL_CALLS]"), std::string::npos);
    }
    EXPECT_EQ(streamed.find("<think>"), std::string::npos);
  }
}

TEST(ReplyParser, PlainTextPassesThroughAtOnce) {
  ReplyParser p({});
  EXPECT_EQ(p.feed("<think>a</think> <tool_call>").content, "<think>a</think> <tool_call>");
  EXPECT_TRUE(p.finish().empty());
}

TEST(ReplyParser, HermesCallsAreHeldAndParsed) {
  const ReplyOptions o{ToolCallFormat::kHermes, false, false};
  const std::string text =
      "Let me look.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\n"
      "<tool_call>{\"name\": \"get_time\", \"arguments\": {}}</tool_call>";
  expect_every_split(o, text, "", "Let me look.\n", 2);
  const ReplyPart r = run(o, text, {});
  EXPECT_EQ(r.calls[0].name, "get_weather");
  EXPECT_EQ(r.calls[0].arguments, "{\"city\":\"Paris\"}");
  EXPECT_EQ(r.calls[1].name, "get_time");
  EXPECT_EQ(r.calls[1].arguments, "{}");
}

TEST(ReplyParser, TextThatOnlyLooksLikeAMarkerIsReleased) {
  const ReplyOptions o{ToolCallFormat::kHermes, true, false};
  expect_every_split(o, "<thing> and <tool_cal", "", "<thing> and <tool_cal", 0);
  // A malformed call stays content, with the reason.
  ReplyParser p(o);
  ReplyPart a = p.feed("x <tool_call>{\"name\": 3}</tool_call>");
  ReplyPart b = p.finish();
  EXPECT_EQ(a.content + b.content, "x <tool_call>{\"name\": 3}</tool_call>");
  EXPECT_TRUE(b.calls.empty());
  EXPECT_NE(p.tool_error().find("name"), std::string::npos) << p.tool_error();
}

TEST(ReplyParser, ThinkingIsSplitFromTheAnswer) {
  const ReplyOptions o{ToolCallFormat::kNone, true, false};
  expect_every_split(o, "<think>\nstep one</think>\n\nThe answer.", "\nstep one", "The answer.", 0);
  expect_every_split(o, "  <think>a < b</think>c", "a < b", "c", 0);
  // No thinking: the reply is all answer.
  expect_every_split(o, "Just an answer </think>", "", "Just an answer </think>", 0);
  // Thinking cut short (max_tokens) is still thinking.
  expect_every_split(o, "<think>unfinished </thi", "unfinished </thi", "", 0);
}

TEST(ReplyParser, TemplateOpenedThinkingAndACallAfterIt) {
  const ReplyOptions o{ToolCallFormat::kHermes, true, true};
  const std::string text =
      "I should call it. <tool_call>{\"name\": \"x\"}</tool_call></think>\n"
      "Calling.<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": [1, 2]}}</tool_call>";
  // A call inside the thinking is thinking, not a call.
  expect_every_split(o, text, "I should call it. <tool_call>{\"name\": \"x\"}</tool_call>", "Calling.", 1);
  EXPECT_EQ(run(o, text, {}).calls[0].arguments, "{\"a\":[1,2]}");
}

TEST(ReplyParser, Llama3AndMistralCalls) {
  const ReplyOptions llama{ToolCallFormat::kLlama3, false, false};
  expect_every_split(llama, "{\"name\": \"f\", \"parameters\": {\"q\": \"x\"}}", "", "", 1);
  expect_every_split(llama, "Sure.<|python_tag|>{\"name\": \"f\", \"parameters\": {}}", "", "Sure.", 1);
  expect_every_split(llama, "{not a call", "", "{not a call", 0);
  const ReplyOptions mistral{ToolCallFormat::kMistral, false, false};
  const std::string text = "[TOOL_CALLS][{\"name\": \"f\", \"arguments\": {\"n\": 1}, \"id\": \"abcdefghi\"}]";
  expect_every_split(mistral, text, "", "", 1);
  EXPECT_EQ(run(mistral, text, {}).calls[0].id, "abcdefghi");
}

}  // namespace
}  // namespace ternion::server
