// Ollama's API over loopback (Ollama's docs/api.md): chat and generate, whole and NDJSON-streamed, equal to the
// OpenAI routes' greedy text; tags, show, ps, version, "/"; errors as Ollama sends them. And the request glue
// of tool calls: tool_choice, and assistant tool_calls arguments parsed before the template prints them.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "server_fixture.h"
#include "ternion/convert/load_model.h"
#include "ternion/engine/chat.h"
#include "ternion/server/model_registry.h"
#include "ternion/server/openai_schema.h"

namespace ternion {
namespace {

using nlohmann::json;

class HttpOllama : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!std::filesystem::exists(test::server_model_path())) return;
    server_ = new test::RunningServer(test::default_options(2));
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override { TERNION_REQUIRE_FIXTURE(test::server_model_path()); }
  static test::RunningServer* server_;
};
test::RunningServer* HttpOllama::server_ = nullptr;

const char* const kModel = "kjv-llama-Q8_0";
const json kMessages = json::array({{{"role", "user"}, {"content", "Who made the heaven and the earth?"}}});

std::vector<json> ndjson(const std::string& body) {
  std::vector<json> out;
  std::istringstream in(body);
  for (std::string line; std::getline(in, line);) out.push_back(json::parse(line));
  return out;
}

TEST_F(HttpOllama, ChatStreamsByDefaultAndEqualsTheOpenAiRoute) {
  auto c = server_->client();
  const json req = {{"model", std::string(kModel) + ":latest"},
                    {"messages", kMessages},
                    {"options", {{"temperature", 0}, {"num_predict", 7}}},
                    {"keep_alive", "5m"}};
  auto r = c.Post("/api/chat", req.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/x-ndjson");
  const auto lines = ndjson(r->body);
  ASSERT_GE(lines.size(), 2u);
  std::string streamed;
  for (size_t i = 0; i + 1 < lines.size(); ++i) {
    EXPECT_FALSE(lines[i]["done"].get<bool>());
    EXPECT_EQ(lines[i]["model"], std::string(kModel) + ":latest") << "the request's name comes back";
    EXPECT_EQ(lines[i]["message"]["role"], "assistant");
    streamed += lines[i]["message"]["content"].get<std::string>();
  }
  const json& last = lines.back();
  EXPECT_TRUE(last["done"].get<bool>());
  EXPECT_EQ(last["done_reason"], "length");
  EXPECT_EQ(last["eval_count"], 7);
  for (const char* d : {"total_duration", "load_duration", "prompt_eval_duration", "eval_duration"}) {
    EXPECT_TRUE(last[d].is_number_integer()) << d;
  }
  EXPECT_GE(last["total_duration"].get<int64_t>(),
            last["prompt_eval_duration"].get<int64_t>() + last["eval_duration"].get<int64_t>());

  json whole = req;
  whole["stream"] = false;
  const json w = test::post_json(c, "/api/chat", whole);
  EXPECT_EQ(w["message"]["content"], streamed);
  EXPECT_EQ(w["prompt_eval_count"], last["prompt_eval_count"]);

  const json oa = test::post_json(c, "/v1/chat/completions",
                                  {{"model", kModel}, {"messages", kMessages}, {"temperature", 0}, {"max_tokens", 7}});
  EXPECT_EQ(oa["choices"][0]["message"]["content"], streamed);
  EXPECT_EQ(oa["usage"]["prompt_tokens"], last["prompt_eval_count"]);
}

TEST_F(HttpOllama, GenerateRawAndTemplated) {
  auto c = server_->client();
  const json raw = test::post_json(c, "/api/generate",
                                   {{"model", kModel},
                                    {"prompt", "In the beginning"},
                                    {"raw", true},
                                    {"stream", false},
                                    {"options", {{"temperature", 0}, {"num_predict", 9}, {"seed", 3}}}});
  const json native =
      test::post_json(c, "/generate", {{"prompt", "In the beginning"}, {"max_tokens", 9}, {"temperature", 0}});
  EXPECT_EQ(raw["response"], native["text"]);
  EXPECT_EQ(raw["prompt_eval_count"], native["usage"]["prompt_tokens"]);
  // Stop strings come from options.
  const json stopped = test::post_json(c, "/api/generate",
                                       {{"model", kModel},
                                        {"prompt", "In the beginning"},
                                        {"raw", true},
                                        {"stream", false},
                                        {"options", {{"temperature", 0}, {"num_predict", 9}, {"stop", {"the"}}}}});
  EXPECT_EQ(stopped["response"].get<std::string>().find("the"), std::string::npos);

  // Not raw: the prompt is a user message (after the system one) for the chat template.
  const json templated = test::post_json(c, "/api/generate",
                                         {{"model", kModel},
                                          {"prompt", "Hello"},
                                          {"system", "Be brief."},
                                          {"stream", false},
                                          {"options", {{"num_predict", 2}}}});
  const json chat = test::post_json(
      c, "/v1/chat/completions",
      {{"messages", {{{"role", "system"}, {"content", "Be brief."}}, {{"role", "user"}, {"content", "Hello"}}}},
       {"max_tokens", 2}});
  EXPECT_EQ(templated["prompt_eval_count"], chat["usage"]["prompt_tokens"]);
  EXPECT_EQ(templated["eval_count"], 2);

  const auto lines = ndjson(c.Post("/api/generate",
                                   json{{"model", kModel},
                                        {"prompt", "In the beginning"},
                                        {"raw", true},
                                        {"options", {{"temperature", 0}, {"num_predict", 9}}}}
                                       .dump(),
                                   "application/json")
                                ->body);
  std::string streamed;
  for (const json& l : lines) streamed += l["response"].get<std::string>();
  EXPECT_EQ(streamed, raw["response"]);
}

TEST_F(HttpOllama, EmptyPromptOrMessagesLoadTheModel) {
  auto c = server_->client();
  const json g = test::post_json(c, "/api/generate", {{"model", kModel}});
  EXPECT_EQ(g["done_reason"], "load");
  EXPECT_EQ(g["response"], "");
  const json ch = test::post_json(c, "/api/chat", {{"model", kModel}, {"messages", json::array()}, {"keep_alive", 0}});
  EXPECT_EQ(ch["done_reason"], "load");
  EXPECT_TRUE(ch["done"].get<bool>());
}

TEST_F(HttpOllama, TagsShowPsVersionAndRoot) {
  auto c = server_->client();
  auto tags = c.Get("/api/tags");
  ASSERT_TRUE(tags && tags->status == 200);
  const json t = json::parse(tags->body);
  ASSERT_EQ(t["models"].size(), 1u);
  const json& m = t["models"][0];
  EXPECT_EQ(m["name"], std::string(kModel) + ":latest");
  EXPECT_EQ(m["size"], std::filesystem::file_size(test::server_model_path()));
  EXPECT_EQ(m["details"]["format"], "gguf");
  EXPECT_EQ(m["details"]["family"], "llama");
  EXPECT_EQ(m["details"]["quantization_level"], "Q8_0");
  EXPECT_EQ(m["details"]["parameter_size"], "6.8M");
  EXPECT_EQ(m["digest"].get<std::string>().size(), 16u);

  int status = 0;
  json s = test::post_json(c, "/api/show", {{"model", m["name"]}}, &status);
  ASSERT_EQ(status, 200) << s.dump();
  EXPECT_EQ(s["details"], m["details"]);
  EXPECT_EQ(s["model_info"]["general.architecture"], "llama");
  EXPECT_EQ(s["model_info"]["llama.block_count"], 6);
  EXPECT_TRUE(s["model_info"]["tokenizer.ggml.tokens"].empty()) << "long arrays only when verbose";
  EXPECT_NE(s["template"].get<std::string>().find("<|im_start|>"), std::string::npos);
  EXPECT_EQ(s["capabilities"], json::array({"completion"}));
  s = test::post_json(c, "/api/show", {{"name", kModel}, {"verbose", true}});
  EXPECT_EQ(s["model_info"]["tokenizer.ggml.tokens"].size(), 4096u);

  const json ps = json::parse(c.Get("/api/ps")->body);
  EXPECT_EQ(ps["models"][0]["name"], m["name"]);
  EXPECT_EQ(ps["models"][0]["context_length"], 256);
  EXPECT_TRUE(ps["models"][0].contains("expires_at"));

  EXPECT_EQ(json::parse(c.Get("/api/version")->body)["version"], "0.9.0");
  auto root = c.Get("/");
  ASSERT_TRUE(root);
  EXPECT_EQ(root->body, "Ollama is running");
  auto head = c.Head("/");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
}

struct OllamaError {
  const char* path;
  json body;
  int status;
  const char* says;
};

TEST_F(HttpOllama, ErrorsAreOllamasShape) {
  const json msg = kMessages;
  const std::vector<OllamaError> cases = {
      {"/api/chat", {{"model", "nope"}, {"messages", msg}}, 404, "model 'nope' not found"},
      {"/api/chat", {{"messages", msg}}, 400, "model is required"},
      {"/api/generate", {{"model", kModel}, {"prompt", "x"}, {"format", "xml"}}, 400, "JSON Schema"},
      {"/api/chat",
       {{"model", kModel}, {"messages", msg}, {"format", {{"type", "string"}, {"pattern", "a+"}}}},
       400,
       "pattern"},
      {"/api/generate", {{"model", kModel}, {"prompt", "x"}, {"images", {"aGk="}}}, 400, "images are not supported"},
      {"/api/chat",
       {{"model", kModel}, {"messages", {{{"role", "user"}, {"content", "x"}, {"images", {"aGk="}}}}}},
       400,
       "images are not supported"},
      {"/api/chat", {{"model", kModel}, {"messages", msg}, {"options", 3}}, 400, "'options' must be an object"},
      {"/api/chat", {{"model", kModel}, {"messages", msg}, {"options", {{"num_predict", 0}}}}, 400, "num_predict"},
      {"/api/chat", {{"model", kModel}, {"messages", msg}, {"options", {{"temperature", -1}}}}, 400, "temperature"},
      {"/api/chat", {{"model", kModel}, {"messages", "hi"}}, 400, "'messages' must be an array"},
      {"/api/chat", {{"model", kModel}, {"messages", {{{"role", "user"}, {"content", 5}}}}}, 400, "content"},
      {"/api/chat", {{"model", kModel}, {"messages", msg}, {"keep_alive", true}}, 400, "keep_alive"},
      {"/api/chat", {{"model", kModel}, {"messages", msg}, {"tools", {{{"type", "function"}}}}}, 400, "tools[0]"},
      {"/api/generate", {{"model", kModel}, {"prompt", "x"}, {"context", {1, 2}}}, 400, "'context'"},
      {"/api/generate", {{"model", kModel}, {"prompt", "x"}, {"suffix", "y"}}, 400, "'suffix'"},
      {"/api/embed", {{"model", kModel}, {"input", "x"}}, 400, "does not support embeddings"},
      {"/api/embeddings", {{"model", kModel}, {"prompt", "x"}}, 400, "does not support embeddings"},
      {"/api/embed", {{"model", "nope"}, {"input", "x"}}, 404, "model 'nope' not found"},
      {"/api/show", {{"model", "nope"}}, 404, "model 'nope' not found"},
      {"/api/show", json::object(), 400, "model is required"},
      {"/api/show", {{"model", kModel}, {"verbose", "yes"}}, 400, "'verbose' must be a boolean"},
      {"/api/chat", {{"model", kModel}, {"messages", msg}, {"think", 3}}, 400, "'think'"},
      {"/api/chat", {{"model", kModel}, {"messages", msg}, {"logprobs", true}}, 400, "'logprobs'"},
      {"/api/generate", {{"model", kModel}, {"prompt", "x"}, {"template", "{{ .Prompt }}"}}, 400, "'template'"},
      {"/api/generate", {{"model", kModel}, {"prompt", 3}}, 400, "'prompt' must be a string"},
      {"/api/generate", {{"model", kModel}, {"prompt", "x"}, {"raw", true}, {"system", "s"}}, 400, "raw mode"},
  };
  auto c = server_->client();
  for (const OllamaError& e : cases) {
    int status = 0;
    const json j = test::post_json(c, e.path, e.body, &status);
    EXPECT_EQ(status, e.status) << e.path << " " << e.body.dump();
    ASSERT_TRUE(j.contains("error") && j["error"].is_string()) << j.dump();
    EXPECT_NE(j["error"].get<std::string>().find(e.says), std::string::npos) << j.dump();
  }
  auto r = c.Get("/api/nothing");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_TRUE(json::parse(r->body)["error"].is_string()) << "unknown /api/ routes answer Ollama's shape too";
  r = c.Get("/v1/nothing");
  EXPECT_TRUE(json::parse(r->body)["error"].is_object()) << "OpenAI's routes keep OpenAI's shape";
}

TEST_F(HttpOllama, OpenAiToolChoiceAndToolMessages) {
  auto c = server_->client();
  const json tools = {
      {{"type", "function"}, {"function", {{"name", "get_weather"}, {"parameters", {{"type", "object"}}}}}}};
  const json history = {{{"role", "user"}, {"content", "Weather in Paris?"}},
                        {{"role", "assistant"},
                         {"content", nullptr},
                         {"tool_calls",
                          {{{"id", "call_1"},
                            {"type", "function"},
                            {"function", {{"name", "get_weather"}, {"arguments", "{\"city\":\"Paris\"}"}}}}}}},
                        {{"role", "tool"}, {"tool_call_id", "call_1"}, {"content", "11 degrees"}}};
  int status = 0;
  for (const json& choice : {json("auto"), json("none"), json(nullptr)}) {
    const json j =
        test::post_json(c, "/v1/chat/completions",
                        {{"messages", history}, {"tools", tools}, {"tool_choice", choice}, {"max_tokens", 3}}, &status);
    EXPECT_EQ(status, 200) << choice.dump() << j.dump();
    // The fixture's template has no call format: the reply is content.
    EXPECT_FALSE(j["choices"][0]["message"].contains("tool_calls"));
  }
  const std::vector<std::pair<json, std::string>> refused = {
      // The fixture's template has no call format to constrain the reply to.
      {json("required"), "tool-call format"},
      {json{{"type", "function"}, {"function", {{"name", "get_weather"}}}}, "tool-call format"},
      {json{{"function", {{"name", 3}}}}, "naming a function must be"},
      {json("sometimes"), "must be"}};
  for (const auto& [choice, says] : refused) {
    const json j = test::post_json(c, "/v1/chat/completions",
                                   {{"messages", kMessages}, {"tools", tools}, {"tool_choice", choice}}, &status);
    EXPECT_EQ(status, 400) << choice.dump();
    EXPECT_EQ(j["error"]["param"], "tool_choice");
    EXPECT_NE(j["error"]["message"].get<std::string>().find(says), std::string::npos) << j.dump();
  }
}

// response_format and Ollama's format reach the sampler: whatever the model would have said, the reply is JSON of
// the asked shape.
TEST_F(HttpOllama, StructuredOutputIsEnforced) {
  auto c = server_->client();
  int status = 0;
  const json schema = {
      {"type", "object"},
      {"properties", {{"verse", {{"type", "string"}, {"maxLength", 20}}}, {"n", {{"type", "integer"}}}}},
      {"required", {"verse", "n"}},
      {"additionalProperties", false}};
  const json formats[] = {
      json{{"type", "json_object"}},
      json{{"type", "json_schema"}, {"json_schema", {{"name", "v"}, {"schema", schema}, {"strict", true}}}}};
  for (const json& format : formats) {
    const json j = test::post_json(
        c, "/v1/chat/completions",
        {{"messages", kMessages}, {"response_format", format}, {"max_tokens", 200}, {"temperature", 0.8}, {"seed", 3}},
        &status);
    ASSERT_EQ(status, 200) << j.dump();
    ASSERT_EQ(j["choices"][0]["finish_reason"], "stop") << j.dump();
    const json out = json::parse(j["choices"][0]["message"]["content"].get<std::string>());
    EXPECT_TRUE(out.is_object()) << out.dump();
    if (format["type"] == "json_schema") {
      EXPECT_TRUE(out["verse"].is_string() && out["n"].is_number_integer()) << out.dump();
    }
  }
  const json o = test::post_json(c, "/api/chat",
                                 {{"model", kModel},
                                  {"messages", kMessages},
                                  {"stream", false},
                                  {"format", schema},
                                  {"options", {{"num_predict", 200}, {"seed", 5}}}},
                                 &status);
  ASSERT_EQ(status, 200) << o.dump();
  const json out = json::parse(o["message"]["content"].get<std::string>());
  EXPECT_TRUE(out["verse"].is_string() && out["n"].is_number_integer()) << out.dump();
}

TEST(ToolGlue, AssistantArgumentsReachTheTemplateAsObjects) {
  const json body = {
      {"messages",
       {{{"role", "user"}, {"content", "Weather?"}},
        {{"role", "assistant"},
         {"content", ""},
         {"tool_calls",
          {{{"id", "a"}, {"function", {{"name", "get_weather"}, {"arguments", "{\"city\": \"Paris\"}"}}}},
           {{"id", "b"}, {"type", "function"}, {"function", {{"name", "f"}, {"arguments", "not json"}}}}}}},
        {{"role", "tool"}, {"tool_call_id", "a"}, {"content", "11"}}}}};
  const server::ParsedRequest p = server::parse_generation_request(body.dump(), server::Endpoint::kChat);
  const auto& calls = p.messages[1]["tool_calls"];
  EXPECT_EQ(calls[0]["function"]["arguments"], nlohmann::ordered_json({{"city", "Paris"}}));
  EXPECT_EQ(calls[0]["type"], "function") << "the type the templates test for is filled in";
  EXPECT_EQ(calls[1]["function"]["arguments"], "not json") << "text that is no object stays as sent";
  EXPECT_EQ(p.messages[2]["tool_call_id"], "a");

  // Rendered by a real template that prints the arguments with |tojson: once, not as a quoted string.
  const auto path = test::fixture("templates/NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja");
  TERNION_REQUIRE_FIXTURE(path);
  TERNION_REQUIRE_FIXTURE(test::server_model_path());
  std::ifstream in(path);
  const std::string source((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto model = load_model(test::server_model_path());
  const Tokenizer tok(model->vocab());
  const ChatFormat format(tok, source);
  const std::string text = format.render(p.messages, true, nullptr);
  EXPECT_NE(text.find("{\"city\": \"Paris\"}"), std::string::npos) << text;
  EXPECT_EQ(text.find("\\\"city\\\""), std::string::npos) << "double-encoded arguments: " << text;
}

TEST(ServedModelFacts, ThinkingAndToolFormatFromTheTemplate) {
  TERNION_REQUIRE_FIXTURE(test::server_model_path());
  server::Metrics metrics;
  server::SchedulerOptions so;
  so.n_parallel = 1;
  so.n_ctx = 64;
  so.n_threads = 1;
  const server::ServedModel m({kModel, test::server_model_path(), {kModel}, ""}, so, metrics);
  EXPECT_EQ(m.tool_call_format(), ToolCallFormat::kNone) << "ChatML fallback: no call format";
  EXPECT_FALSE(m.thinks());
  EXPECT_FALSE(m.think_tags_are_control());
  EXPECT_EQ(m.summary().architecture, "llama");
  EXPECT_EQ(m.file_bytes(), std::filesystem::file_size(test::server_model_path()));
  EXPECT_GT(m.modified(), 1600000000);
  const Tokenizer& tok = m.tokenizer();
  EXPECT_TRUE(m.opens_thinking(tok.encode("<|im_start|>assistant\n<think>\n", false, true)));
  EXPECT_FALSE(m.opens_thinking(tok.encode("<|im_start|>assistant\n", false, true)));
  EXPECT_FALSE(m.opens_thinking({}));
}

TEST(ToolGlue, OllamaMessagesMapToTheTemplatesNames) {
  const json body = {
      {"model", "m"},
      {"messages",
       {{{"role", "assistant"},
         {"content", ""},
         {"thinking", "hmm"},
         {"tool_calls", {{{"function", {{"name", "get_weather"}, {"arguments", {{"city", "Paris"}}}}}}}}},
        {{"role", "tool"}, {"tool_name", "get_weather"}, {"content", "11"}}}}};
  const server::ParsedRequest p = server::parse_ollama_request(body.dump(), server::Endpoint::kOllamaChat);
  EXPECT_TRUE(p.stream) << "Ollama streams unless told not to";
  EXPECT_EQ(p.messages[0]["reasoning_content"], "hmm");
  EXPECT_EQ(p.messages[0]["tool_calls"][0]["function"]["arguments"]["city"], "Paris");
  EXPECT_EQ(p.messages[1]["name"], "get_weather");
  const server::ParsedRequest g = server::parse_ollama_request(
      json{{"model", "m"}, {"prompt", "[INST] hi [/INST]"}, {"raw", true}, {"stream", false}}.dump(),
      server::Endpoint::kOllamaGenerate);
  EXPECT_TRUE(g.messages.is_null()) << "raw prompts skip the template";
  EXPECT_EQ(g.prompt, "[INST] hi [/INST]");
  EXPECT_TRUE(g.parse_special);
  EXPECT_FALSE(g.stream);
}

}  // namespace
}  // namespace ternion
