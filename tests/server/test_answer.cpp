// The answer formats fed with known generated text (the fixture models never write a tool call): OpenAI's
// tool_calls, reasoning_content and finish_reason, whole and streamed; Ollama's NDJSON lines, tool calls with
// object arguments, thinking, and counts and durations.
#include <gtest/gtest.h>

#include "server/answer.h"
#include "server_fixture.h"

namespace ternion::server {
namespace {

using nlohmann::json;

// A finished task that "generated" `pieces`, one token each.
std::shared_ptr<GenerationTask> scripted(const std::vector<std::string>& pieces, const std::string& reason = "stop") {
  GenerationSpec spec;
  spec.prompt = {1, 2, 3};
  auto task = std::make_shared<GenerationTask>(spec);
  int32_t id = 10;
  for (const std::string& p : pieces) task->push(Delta{p, {id++}, {}});
  Finish f;
  f.prompt_ms = 2.5;
  f.generate_ms = 4.0;
  f.generated = static_cast<int64_t>(pieces.size());
  task->mark_first_token(GenerationTask::Clock::now());
  task->mark_end(GenerationTask::Clock::now(), f);
  task->finish(reason);
  return task;
}

ParsedRequest request(Endpoint e) {
  ParsedRequest p;
  p.endpoint = e;
  p.model = "m";
  return p;
}

// The stream's bytes for several choices.
std::string stream_all(std::vector<AnswerChoice> choices, Usage usage = {}) {
  StreamWriter w(std::move(choices), usage);
  std::string out;
  httplib::DataSink sink;
  bool done = false;
  sink.write = [&](const char* d, size_t n) {
    out.append(d, n);
    return true;
  };
  sink.done = [&] { done = true; };
  EXPECT_TRUE(w.run(sink));
  EXPECT_TRUE(done);
  return out;
}

// The stream's bytes.
std::string stream(const std::shared_ptr<GenerationTask>& task, std::unique_ptr<AnswerFormat> f, ReplyOptions o) {
  std::vector<AnswerChoice> one;
  one.emplace_back(task, std::move(f), o);
  return stream_all(std::move(one));
}

std::vector<json> ndjson(const std::string& body) {
  std::vector<json> out;
  size_t pos = 0;
  while (pos < body.size()) {
    const size_t end = body.find('\n', pos);
    EXPECT_NE(end, std::string::npos) << "every line ends with a newline";
    out.push_back(json::parse(body.substr(pos, end - pos)));
    pos = end + 1;
  }
  return out;
}

const std::vector<std::string> kCallReply = {"<think>",
                                             "the user wants",
                                             " weather</think>\n",
                                             "Checking.",
                                             "<tool_",
                                             "call>{\"name\": \"get_weather\", ",
                                             "\"arguments\": {\"city\": \"Paris\"}}</tool_call>"};
const ReplyOptions kHermes{ToolCallFormat::kHermes, true, false};

TEST(Answer, OpenAiWholeChatHasToolCallsAndReasoning) {
  auto task = scripted(kCallReply);
  auto f = make_openai_format(request(Endpoint::kChat), "m", nullptr);
  ReplyParser parser(kHermes);
  const json body = f->whole(*task, collect_whole(*task, parser));
  const json& choice = body["choices"][0];
  EXPECT_EQ(choice["finish_reason"], "tool_calls");
  const json& msg = choice["message"];
  EXPECT_EQ(msg["content"], "Checking.");
  EXPECT_EQ(msg["reasoning_content"], "the user wants weather");
  ASSERT_EQ(msg["tool_calls"].size(), 1u);
  const json& call = msg["tool_calls"][0];
  EXPECT_EQ(call["type"], "function");
  EXPECT_EQ(call["function"]["name"], "get_weather");
  EXPECT_EQ(call["function"]["arguments"], "{\"city\":\"Paris\"}") << "arguments are JSON text";
  EXPECT_EQ(call["id"].get<std::string>().rfind("call_", 0), 0u);
  EXPECT_EQ(call["id"].get<std::string>().size(), 29u);
  EXPECT_EQ(body["usage"]["completion_tokens"], kCallReply.size());
}

TEST(Answer, OpenAiChatWithOnlyACallHasNullContentAndLengthStaysLength) {
  auto task = scripted({"<tool_call>{\"name\": \"f\"}</tool_call>"});
  ReplyParser parser({ToolCallFormat::kHermes, false, false});
  json body = make_openai_format(request(Endpoint::kChat), "m", nullptr)->whole(*task, collect_whole(*task, parser));
  EXPECT_TRUE(body["choices"][0]["message"]["content"].is_null());
  EXPECT_EQ(body["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"], "{}");
  // A reply cut by max_tokens says so even when it holds a call.
  auto cut = scripted({"<tool_call>{\"name\": \"f\"}</tool_call>"}, "length");
  ReplyParser p2({ToolCallFormat::kHermes, false, false});
  body = make_openai_format(request(Endpoint::kChat), "m", nullptr)->whole(*cut, collect_whole(*cut, p2));
  EXPECT_EQ(body["choices"][0]["finish_reason"], "length");
}

TEST(Answer, OpenAiStreamedToolCallDeltas) {
  ParsedRequest p = request(Endpoint::kChat);
  p.include_usage = true;
  const std::string body = stream(scripted(kCallReply), make_openai_format(p, "m", nullptr), kHermes);
  const auto frames = test::sse_frames(body);
  ASSERT_GE(frames.size(), 6u);
  EXPECT_EQ(frames.front()["choices"][0]["delta"]["role"], "assistant");
  std::string reasoning, content, name, args, id, finish;
  for (const json& f : frames) {
    if (f == "[DONE]" || f["choices"].empty()) continue;
    const json& d = f["choices"][0]["delta"];
    if (d.contains("reasoning_content")) reasoning += d["reasoning_content"].get<std::string>();
    if (d.contains("content")) content += d["content"].get<std::string>();
    if (d.contains("tool_calls")) {
      const json& c = d["tool_calls"][0];
      EXPECT_EQ(c["index"], 0);
      if (c.contains("id")) id = c["id"];
      if (c["function"].contains("name")) name += c["function"]["name"].get<std::string>();
      args += c["function"]["arguments"].get<std::string>();
    }
    if (!f["choices"][0]["finish_reason"].is_null()) finish = f["choices"][0]["finish_reason"];
  }
  EXPECT_EQ(reasoning, "the user wants weather");
  EXPECT_EQ(content, "Checking.");
  EXPECT_EQ(name, "get_weather");
  EXPECT_EQ(json::parse(args), json::parse("{\"city\": \"Paris\"}"));
  EXPECT_EQ(id.rfind("call_", 0), 0u);
  EXPECT_EQ(finish, "tool_calls");
  EXPECT_EQ(frames[frames.size() - 2]["usage"]["completion_tokens"], kCallReply.size());
  EXPECT_EQ(frames.back(), "[DONE]");
}

TEST(Answer, OllamaChatWholeAndStreamed) {
  auto task = scripted(kCallReply);
  ReplyParser parser(kHermes);
  const json whole =
      make_ollama_format(request(Endpoint::kOllamaChat), "m:latest")->whole(*task, collect_whole(*task, parser));
  EXPECT_EQ(whole["model"], "m:latest");
  EXPECT_TRUE(whole["done"].get<bool>());
  EXPECT_EQ(whole["done_reason"], "stop");
  EXPECT_EQ(whole["message"]["content"], "Checking.");
  EXPECT_EQ(whole["message"]["thinking"], "the user wants weather");
  const json& call = whole["message"]["tool_calls"][0]["function"];
  EXPECT_EQ(call["name"], "get_weather");
  EXPECT_EQ(call["arguments"], json({{"city", "Paris"}})) << "Ollama's arguments are an object";
  EXPECT_EQ(call["index"], 0);
  EXPECT_EQ(whole["prompt_eval_count"], 3);
  EXPECT_EQ(whole["eval_count"], kCallReply.size());
  EXPECT_EQ(whole["prompt_eval_duration"], 2500000) << "nanoseconds";
  EXPECT_EQ(whole["eval_duration"], 4000000);
  EXPECT_TRUE(whole["total_duration"].is_number_integer());
  EXPECT_GE(whole["load_duration"].get<int64_t>(), 0);
  EXPECT_TRUE(whole["created_at"].get<std::string>().ends_with("Z"));

  const auto lines =
      ndjson(stream(scripted(kCallReply), make_ollama_format(request(Endpoint::kOllamaChat), "m"), kHermes));
  ASSERT_GE(lines.size(), 3u);
  std::string content, thinking;
  int calls = 0;
  for (size_t i = 0; i + 1 < lines.size(); ++i) {
    EXPECT_FALSE(lines[i]["done"].get<bool>());
    content += lines[i]["message"]["content"].get<std::string>();
    if (lines[i]["message"].contains("thinking")) thinking += lines[i]["message"]["thinking"].get<std::string>();
    if (lines[i]["message"].contains("tool_calls")) {
      ++calls;
      EXPECT_EQ(lines[i]["message"]["tool_calls"][0]["function"]["arguments"]["city"], "Paris");
    }
  }
  EXPECT_EQ(content, "Checking.");
  EXPECT_EQ(thinking, "the user wants weather");
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(lines.back()["done"].get<bool>());
  EXPECT_EQ(lines.back()["message"]["content"], "");
  EXPECT_EQ(lines.back()["eval_count"], kCallReply.size());
}

TEST(Answer, OllamaGenerateAndErrors) {
  const auto lines = ndjson(stream(scripted({"In", " the", " beginning"}, "length"),
                                   make_ollama_format(request(Endpoint::kOllamaGenerate), "m"), {}));
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0]["response"], "In");
  EXPECT_EQ(lines[3]["response"], "");
  EXPECT_EQ(lines[3]["done_reason"], "length");
  // A task that failed ends the stream with Ollama's error line.
  GenerationSpec spec;
  spec.prompt = {1};
  auto failed = std::make_shared<GenerationTask>(spec);
  failed->fail("boom");
  const auto err = ndjson(stream(failed, make_ollama_format(request(Endpoint::kOllamaGenerate), "m"), {}));
  ASSERT_EQ(err.size(), 1u);
  EXPECT_EQ(err[0]["error"], "generation failed: boom");
  const json load = ollama_load_answer(request(Endpoint::kOllamaChat));
  EXPECT_EQ(load["done_reason"], "load");
  EXPECT_EQ(load["message"]["content"], "");
}

TEST(Answer, OpenAiCompletionAndGenerateStreamsAndErrors) {
  const auto frames = test::sse_frames(
      stream(scripted({"In", " the"}, "length"), make_openai_format(request(Endpoint::kCompletion), "m", nullptr), {}));
  ASSERT_EQ(frames.size(), 4u);
  EXPECT_EQ(frames[0]["choices"][0]["text"], "In");
  EXPECT_EQ(frames[2]["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(frames[3], "[DONE]");
  const auto gen = test::sse_frames(
      stream(scripted({"In", " the"}), make_openai_format(request(Endpoint::kGenerate), "m", nullptr), {}));
  ASSERT_EQ(gen.size(), 4u);
  EXPECT_EQ(gen[1]["text"], " the");
  EXPECT_EQ(gen[1]["tokens"], json::array({11}));
  EXPECT_EQ(gen[2]["finish_reason"], "stop");
  EXPECT_EQ(gen[2]["usage"]["completion_tokens"], 2);
  GenerationSpec spec;
  spec.prompt = {1};
  auto failed = std::make_shared<GenerationTask>(spec);
  failed->push(Delta{"a", {5}, {}});
  failed->fail("boom");
  const auto err = test::sse_frames(stream(failed, make_openai_format(request(Endpoint::kChat), "m", nullptr), {}));
  ASSERT_EQ(err.size(), 4u);  // role, "a", the error, [DONE]
  EXPECT_EQ(err[2]["error"]["message"], "generation failed: boom");
  EXPECT_EQ(err[3], "[DONE]");
}

// Two choices of one request: every chunk names its choice under the request's one id, each choice ends with its
// own finish_reason, and one usage chunk (both choices' tokens) and one [DONE] end the stream.
TEST(Answer, SeveralChoicesShareOneStream) {
  ParsedRequest p = request(Endpoint::kChat);
  p.include_usage = true;
  const CompletionIds ids = new_completion_ids(Endpoint::kChat, "m");
  std::vector<AnswerChoice> choices;
  const std::vector<std::vector<std::string>> texts = {{"In", " the"}, {"And", " God", " said"}};
  for (int i = 0; i < 2; ++i) {
    const ChoiceOf of{i, ids};
    choices.emplace_back(scripted(texts[i], i == 0 ? "stop" : "length"), make_openai_format(p, "m", nullptr, &of),
                         ReplyOptions{});
  }
  const auto frames = test::sse_frames(stream_all(std::move(choices), Usage{3, 0}));
  std::string text[2];
  std::string finish[2];
  int roles[2] = {0, 0};
  ASSERT_GE(frames.size(), 3u);
  for (size_t i = 0; i + 2 < frames.size(); ++i) {
    const json& f = frames[i];
    EXPECT_EQ(f["id"], ids.id);
    ASSERT_EQ(f["choices"].size(), 1u);
    const int index = f["choices"][0]["index"].get<int>();
    ASSERT_TRUE(index == 0 || index == 1);
    const json& delta = f["choices"][0]["delta"];
    if (delta.contains("role")) ++roles[index];
    if (delta.contains("content")) text[index] += delta["content"].get<std::string>();
    if (!f["choices"][0]["finish_reason"].is_null()) {
      EXPECT_TRUE(finish[index].empty()) << "one finish per choice";
      finish[index] = f["choices"][0]["finish_reason"];
    }
  }
  EXPECT_EQ(text[0], "In the");
  EXPECT_EQ(text[1], "And God said");
  EXPECT_EQ(finish[0], "stop");
  EXPECT_EQ(finish[1], "length");
  EXPECT_EQ(roles[0], 1);
  EXPECT_EQ(roles[1], 1);
  const json& usage = frames[frames.size() - 2];
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["prompt_tokens"], 3);
  EXPECT_EQ(usage["usage"]["completion_tokens"], 5);
  EXPECT_EQ(frames.back(), "[DONE]");
}

TEST(Answer, OllamaTimeIsRfc3339Utc) {
  const auto t =
      std::chrono::system_clock::time_point(std::chrono::seconds(1691177165)) + std::chrono::nanoseconds(499127000);
  EXPECT_EQ(ollama_time(t), "2023-08-04T19:26:05.499127000Z");
}

}  // namespace
}  // namespace ternion::server
