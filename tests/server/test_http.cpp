// The HTTP server end to end, over loopback: the OpenAI shapes, streaming, errors, limits, auth and CORS,
// greedy results equal to the single-sequence generator, and a client that disconnects.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>

#include "server_fixture.h"
#include "ternion/convert/load_model.h"
#include "ternion/engine/generate.h"
#include "ternion/quant/interleave.h"
#include "ternion/server/model_registry.h"

namespace ternion {
namespace {

using nlohmann::json;

class Http : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!std::filesystem::exists(test::server_model_path())) return;
    server_ = new test::RunningServer(test::default_options(4));
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override { TERNION_REQUIRE_FIXTURE(test::server_model_path()); }
  static test::RunningServer* server_;
};
test::RunningServer* Http::server_ = nullptr;

const json kHello = json::array({{{"role", "user"}, {"content", "Hello"}}});

TEST_F(Http, HealthModelsAndNotFound) {
  auto c = server_->client();
  auto r = c.Get("/health");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  const json models = json::parse(c.Get("/v1/models")->body);
  EXPECT_EQ(models["object"], "list");
  ASSERT_EQ(models["data"].size(), 1u);
  EXPECT_EQ(models["data"][0]["id"], "kjv-llama-Q8_0");
  r = c.Get("/no/such/route");
  EXPECT_EQ(r->status, 404);
  EXPECT_TRUE(json::parse(r->body)["error"].contains("message"));
  EXPECT_FALSE(r->has_header("Access-Control-Allow-Origin"));  // CORS only with --cors
}

TEST_F(Http, ChatCompletionShape) {
  auto c = server_->client();
  int status = 0;
  const json j = test::post_json(c, "/v1/chat/completions",
                                 {{"model", "kjv-llama-Q8_0"},
                                  {"messages", kHello},
                                  {"max_tokens", 6},
                                  {"temperature", 0},
                                  {"logprobs", true},
                                  {"top_logprobs", 2}},
                                 &status);
  ASSERT_EQ(status, 200) << j.dump();
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["id"].get<std::string>().rfind("chatcmpl-", 0), 0u);
  EXPECT_GT(j["created"].get<int64_t>(), 1600000000);
  EXPECT_EQ(j["model"], "kjv-llama-Q8_0");
  ASSERT_EQ(j["choices"].size(), 1u);
  const json& ch = j["choices"][0];
  EXPECT_EQ(ch["index"], 0);
  EXPECT_EQ(ch["message"]["role"], "assistant");
  EXPECT_TRUE(ch["message"]["content"].is_string());
  EXPECT_TRUE(ch["finish_reason"] == "length" || ch["finish_reason"] == "stop");
  ASSERT_TRUE(ch["logprobs"].is_object());
  const json& lp = ch["logprobs"]["content"];
  ASSERT_GE(lp.size(), 1u);
  EXPECT_LE(lp[0]["logprob"].get<double>(), 0.0);
  ASSERT_EQ(lp[0]["top_logprobs"].size(), 2u);
  // Greedy: the chosen token is the most likely one.
  EXPECT_EQ(lp[0]["top_logprobs"][0]["logprob"], lp[0]["logprob"]);
  EXPECT_EQ(j["usage"]["completion_tokens"], lp.size());
  EXPECT_EQ(j["usage"]["total_tokens"].get<int64_t>(),
            j["usage"]["prompt_tokens"].get<int64_t>() + j["usage"]["completion_tokens"].get<int64_t>());
}

TEST_F(Http, ChatStreamWithUsage) {
  auto c = server_->client();
  const json req = {{"messages", kHello},
                    {"max_tokens", 8},
                    {"temperature", 0},
                    {"stream", true},
                    {"stream_options", {{"include_usage", true}}}};
  auto r = c.Post("/v1/chat/completions", req.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_NE(r->get_header_value("Content-Type").find("text/event-stream"), std::string::npos);
  const auto frames = test::sse_frames(r->body);
  ASSERT_GE(frames.size(), 4u);
  EXPECT_EQ(frames.back(), "[DONE]");
  EXPECT_EQ(frames[0]["choices"][0]["delta"]["role"], "assistant");
  const json& usage = frames[frames.size() - 2];
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["completion_tokens"], 8);
  const json& fin = frames[frames.size() - 3];
  EXPECT_EQ(fin["choices"][0]["finish_reason"], "length");
  EXPECT_TRUE(fin["choices"][0]["delta"].empty());
  std::string streamed;
  for (size_t i = 0; i + 3 < frames.size(); ++i) {
    EXPECT_EQ(frames[i]["object"], "chat.completion.chunk");
    EXPECT_EQ(frames[i]["id"], frames[0]["id"]);
    EXPECT_TRUE(frames[i]["choices"][0]["finish_reason"].is_null());
    streamed += frames[i]["choices"][0]["delta"].value("content", "");
  }
  // The same request unstreamed gives the same text.
  json whole = req;
  whole.erase("stream");
  whole.erase("stream_options");
  EXPECT_EQ(test::post_json(c, "/v1/chat/completions", whole)["choices"][0]["message"]["content"], streamed);
}

TEST_F(Http, CompletionsAndStopStrings) {
  auto c = server_->client();
  const json base = {
      {"prompt", "And God said, Let there be light: and there was"}, {"max_tokens", 20}, {"temperature", 0}};
  const json j = test::post_json(c, "/v1/completions", base);
  EXPECT_EQ(j["object"], "text_completion");
  const std::string text = j["choices"][0]["text"];
  ASSERT_GT(text.size(), 12u) << j.dump();
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  // A stop string taken from the middle of the greedy text: the text ends right before it.
  const std::string stop = text.substr(8, 4);
  const size_t at = text.find(stop);
  json s = base;
  s["stop"] = json::array({stop, "zzzz"});
  json sj = test::post_json(c, "/v1/completions", s);
  EXPECT_EQ(sj["choices"][0]["text"], text.substr(0, at));
  EXPECT_EQ(sj["choices"][0]["finish_reason"], "stop");
  // Streamed: no chunk carries any part of the stop string past the cut.
  s["stream"] = true;
  const auto frames = test::sse_frames(c.Post("/v1/completions", s.dump(), "application/json")->body);
  std::string streamed;
  for (const json& f : frames) {
    if (f.is_object() && !f["choices"].empty()) streamed += f["choices"][0]["text"].get<std::string>();
  }
  EXPECT_EQ(streamed, text.substr(0, at));
  EXPECT_EQ(frames[frames.size() - 2]["choices"][0]["finish_reason"], "stop");
}

TEST_F(Http, ConcurrentGreedyRequestsEqualTheGenerator) {
  const std::vector<std::string> prompts = {"And God said, Let there be light: and there was",
                                            "ROMEO:",
                                            "In the beginning",
                                            "Blessed are the",
                                            "The LORD is my shepherd",
                                            "Now the serpent was"};
  const int32_t n = test::slow_build() ? 6 : 20;
  const auto model = load_model(test::server_model_path());
  ContextOptions co;
  co.n_ctx = 256;
  Generator gen(*model, co, 2);
  GenerateOptions go;
  go.max_tokens = n;
  go.sampling.temperature = 0;
  std::vector<std::future<json>> futures;
  for (size_t i = 0; i < prompts.size(); ++i) {
    futures.push_back(std::async(std::launch::async, [&, i] {
      auto c = server_->client();
      // Some with sampling at a high temperature alongside, to share batches with the greedy ones.
      json body = {{"prompt", prompts[i]}, {"max_tokens", n}, {"temperature", i % 2 == 0 ? 0.0 : 1.5}, {"seed", 7}};
      return test::post_json(c, "/generate", body);
    }));
  }
  for (size_t i = 0; i < prompts.size(); ++i) {
    const json j = futures[i].get();
    if (i % 2 != 0) {
      EXPECT_EQ(j["seed"], 7);
      continue;
    }
    const GenerateResult want = gen.generate(prompts[i], go);
    EXPECT_EQ(j["tokens"].get<std::vector<int32_t>>(), want.tokens) << prompts[i];
    EXPECT_EQ(j["text"], want.text);
    EXPECT_EQ(j["prompt_tokens"].get<std::vector<int32_t>>(), want.prompt_tokens);
    EXPECT_EQ(j["finish_reason"], want.finish_reason);
  }
}

// --mmap reaches the model: its weights stay in the map (no interleaved copies), while a resident load packs
// them where this CPU has interleaved kernels.
TEST(ServedModelLoad, MmapKeepsTheWeightsInTheMap) {
  TERNION_REQUIRE_FIXTURE(test::server_model_path());
  server::SchedulerOptions so;
  so.n_parallel = 1;
  so.n_threads = 1;
  server::Metrics metrics;
  const server::ServedModel mapped(server::expand_model_specs({test::server_model_path()}).at(0), so, metrics,
                                   {.resident = false});
  const WeightMatrix& wq = mapped.model().weights().layers.at(0).wq;
  EXPECT_EQ(wq.interleaved, nullptr);
  EXPECT_NE(wq.data, nullptr);
  const server::ServedModel resident(server::expand_model_specs({test::server_model_path()}).at(0), so, metrics);
  if (interleaved_kernels(wq.type) != nullptr) {
    EXPECT_NE(resident.model().weights().layers.at(0).wq.interleaved, nullptr);
  } else {
    std::fprintf(stderr, "*** resident half not checked: no interleaved kernels for this type on this CPU ***\n");
  }
}

// A server started with --mmap answers with the tokens of the resident model.
TEST(HttpMmap, MappedWeightsGiveTheGeneratorsTokens) {
  TERNION_REQUIRE_FIXTURE(test::server_model_path());
  server::ServerOptions o = test::default_options(1);
  o.mmap = true;
  test::RunningServer srv(o);
  const auto model = load_model(test::server_model_path());
  ContextOptions co;
  co.n_ctx = 256;
  Generator gen(*model, co, 2);
  GenerateOptions go;
  go.max_tokens = 8;
  go.sampling.temperature = 0;
  auto c = srv.client();
  const json j =
      test::post_json(c, "/generate", {{"prompt", "In the beginning"}, {"max_tokens", 8}, {"temperature", 0}});
  EXPECT_EQ(j["tokens"].get<std::vector<int32_t>>(), gen.generate("In the beginning", go).tokens);
}

TEST_F(Http, SeededSamplingIsReproducible) {
  auto c = server_->client();
  const json body = {
      {"prompt", "ROMEO:"}, {"max_tokens", 12},        {"temperature", 1.2},       {"top_p", 0.9},
      {"seed", 1234},       {"presence_penalty", 0.5}, {"frequency_penalty", 0.5}, {"logit_bias", {{"13", -100}}}};
  const json a = test::post_json(c, "/generate", body);
  const json b = test::post_json(c, "/generate", body);
  EXPECT_EQ(a["tokens"], b["tokens"]);
  for (int32_t t : a["tokens"].get<std::vector<int32_t>>()) EXPECT_NE(t, 13);  // banned by logit_bias
}

TEST_F(Http, BadRequestsGetJsonErrorsAndTheServerGoesOn) {
  auto c = server_->client();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"/v1/chat/completions", "{not json"},
      {"/v1/chat/completions", R"({"messages": 3})"},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": -1})"},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": 100000})"},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": "x"}], "n": 129})"},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": "x"}], "n": 0})"},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": "x"}], "n": 17})"},  // > the queue
      {"/v1/completions", R"({"prompt": ["a", "b"], "n": 65})"},                                 // 130 choices
      {"/v1/completions", R"({"prompt": ["a", 5]})"},
      {"/v1/completions", R"({"prompt": ["a", ""]})"},
      {"/v1/completions", R"({"prompt": [[1, 2], [1.5]]})"},
      {"/generate", R"({"prompt": "a", "n": 2})"},
      {"/v1/completions", R"({"prompt": "x", "temperature": "warm"})"},
      {"/v1/completions", R"({"prompt": "x", "logit_bias": {"99999": 1}})"},
      {"/v1/completions", R"({"prompt": [1, 99999]})"},
      {"/generate", R"({"prompt": 5})"},
      {"/tokenize", R"({"content": 5})"},
      {"/detokenize", R"({"tokens": [-1]})"},
  };
  for (const auto& [path, body] : cases) {
    auto r = c.Post(path.c_str(), body, "application/json");
    ASSERT_TRUE(r) << body;
    EXPECT_EQ(r->status, 400) << path << " " << body << " -> " << r->body;
    const json e = json::parse(r->body, nullptr, false);
    ASSERT_TRUE(e.contains("error")) << r->body;
    for (const char* k : {"message", "type", "param", "code"}) EXPECT_TRUE(e["error"].contains(k)) << k;
    EXPECT_FALSE(e["error"]["message"].get<std::string>().empty());
  }
  // A prompt longer than the context (256).
  std::string longp;
  for (int i = 0; i < 300; ++i) longp += "And it came to pass ";
  auto r = c.Post("/v1/completions", json({{"prompt", longp}}).dump(), "application/json");
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("context"), std::string::npos) << r->body;
  // Unknown model.
  r = c.Post("/v1/completions", json({{"prompt", "x"}, {"model", "gpt-9"}}).dump(), "application/json");
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(json::parse(r->body)["error"]["code"], "model_not_found");
  // Body over the limit (4 MiB).
  r = c.Post("/v1/completions", std::string(5u << 20, ' '), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  // Still serving.
  EXPECT_EQ(test::post_json(c, "/generate", {{"prompt", "ROMEO:"}, {"max_tokens", 2}})["tokens"].size(), 2u);
}

TEST_F(Http, TokenizeDetokenize) {
  auto c = server_->client();
  const json t = test::post_json(c, "/tokenize", {{"content", "In the beginning"}, {"add_special", true}});
  const auto ids = t["tokens"].get<std::vector<int32_t>>();
  ASSERT_GE(ids.size(), 2u);
  EXPECT_EQ(ids[0], 1);  // BOS
  EXPECT_EQ(test::post_json(c, "/detokenize", {{"tokens", ids}})["content"], "In the beginning");
}

TEST_F(Http, MetricsCountRequestsAndTokens) {
  auto c = server_->client();
  test::post_json(c, "/generate", {{"prompt", "ROMEO:"}, {"max_tokens", 3}});
  const std::string m = c.Get("/metrics")->body;
  for (const char* name :
       {"ternion_requests_total{endpoint=\"/generate\",status=\"200\"}",
        "ternion_prompt_tokens_total{model=\"kjv-llama-Q8_0\"} ",
        "ternion_generated_tokens_total{model=\"kjv-llama-Q8_0\"} ", "ternion_queue_depth{model=\"kjv-llama-Q8_0\"}",
        "ternion_active_slots", "ternion_kv_cache_usage_ratio", "ternion_time_to_first_token_seconds_bucket",
        "ternion_inter_token_latency_seconds_count"}) {
    EXPECT_NE(m.find(name), std::string::npos) << name;
  }
}

// A raw socket that sends a streaming request, reads the start of the answer and hangs up.
void stream_and_hang_up(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  const std::string body = R"({"prompt": "And God said", "max_tokens": 240, "ignore_eos": true, "stream": true})";
  const std::string req =
      "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  ASSERT_EQ(send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
  char buf[512];
  ASSERT_GT(recv(fd, buf, sizeof buf, 0), 0);
  close(fd);
}

int64_t active_slots(httplib::Client& c) {
  const std::string m = c.Get("/metrics")->body;
  const std::string key = "ternion_active_slots{model=\"kjv-llama-Q8_0\"} ";
  const size_t at = m.find(key);
  return at == std::string::npos ? -1 : std::stoll(m.substr(at + key.size()));
}

int64_t generated_total(httplib::Client& c) {
  const std::string m = c.Get("/metrics")->body;
  const std::string key = "\nternion_generated_tokens_total{model=\"kjv-llama-Q8_0\"} ";
  const size_t at = m.find(key);
  return at == std::string::npos ? -1 : std::stoll(m.substr(at + key.size()));
}

TEST_F(Http, DisconnectedClientFreesItsSlot) {
  auto c = server_->client();
  const int64_t before = generated_total(c);
  stream_and_hang_up(server_->port());
  // The request ends (its tokens are counted) long before its 240 tokens.
  const auto t0 = std::chrono::steady_clock::now();
  while (generated_total(c) == before && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  const int64_t n = generated_total(c) - before;
  EXPECT_GT(n, 0);
  EXPECT_LT(n, 200) << "the cancelled request ran on";
  EXPECT_EQ(active_slots(c), 0);
}

TEST(HttpOptions, ApiKeyAndCors) {
  TERNION_REQUIRE_FIXTURE(test::server_model_path());
  server::ServerOptions o = test::default_options(1);
  o.api_key = "sekrit";
  o.cors_origin = "http://example.test";
  test::RunningServer s(o);
  auto c = s.client();
  auto r = c.Get("/health");
  EXPECT_EQ(r->status, 200);  // /health needs no key
  r = c.Get("/v1/models");
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(json::parse(r->body)["error"]["code"], "invalid_api_key");
  EXPECT_EQ(r->get_header_value("Access-Control-Allow-Origin"), "http://example.test");
  c.set_bearer_token_auth("wrong");
  EXPECT_EQ(c.Get("/v1/models")->status, 401);
  c.set_bearer_token_auth("sekrit");
  EXPECT_EQ(c.Get("/v1/models")->status, 200);
  EXPECT_EQ(c.Get("/metrics")->status, 200);
  r = c.Options("/v1/chat/completions");
  EXPECT_EQ(r->status, 204);
  EXPECT_EQ(r->get_header_value("Access-Control-Allow-Origin"), "http://example.test");
}

TEST(HttpOptions, MultipleModelsByNameAndAlias) {
  TERNION_REQUIRE_FIXTURE(test::fixture("gguf/kjv-qwen2-F16.gguf"));
  server::ServerOptions o = test::default_options(1);
  o.models = {test::server_model_path(), "qwen=" + test::fixture("gguf/kjv-qwen2-F16.gguf").string()};
  test::RunningServer s(o);
  auto c = s.client();
  const json models = json::parse(c.Get("/v1/models")->body);
  ASSERT_EQ(models["data"].size(), 2u);
  EXPECT_EQ(models["data"][1]["id"], "qwen");
  EXPECT_EQ(test::post_json(c, "/generate", {{"model", "qwen"}, {"prompt", "ROMEO:"}, {"max_tokens", 2}})["model"],
            "qwen");
  EXPECT_EQ(
      test::post_json(c, "/generate", {{"model", "kjv-llama-Q8_0.gguf"}, {"prompt", "x"}, {"max_tokens", 1}})["model"],
      "kjv-llama-Q8_0");
  int status = 0;
  test::post_json(c, "/generate", {{"model", "kjv-qwen2-F16"}, {"prompt", "x"}}, &status);
  EXPECT_EQ(status, 404);  // aliased: the stem no longer names it
}

TEST(HttpOptions, FullQueueAnswers503AtOnce) {
  TERNION_REQUIRE_FIXTURE(test::server_model_path());
  server::ServerOptions o = test::default_options(1);
  o.max_queue = 1;
  test::RunningServer s(o);
  const json body = {{"prompt", "And God said"}, {"max_tokens", 200}, {"ignore_eos", true}};
  std::vector<std::future<int>> f;
  for (int i = 0; i < 5; ++i) {
    f.push_back(std::async(std::launch::async, [&] {
      auto c = s.client();
      int status = 0;
      test::post_json(c, "/generate", body, &status);
      return status;
    }));
  }
  int ok = 0, busy = 0;
  for (auto& x : f) {
    const int st = x.get();
    ok += st == 200;
    busy += st == 503;
  }
  EXPECT_EQ(ok + busy, 5);
  EXPECT_GE(busy, 1);
  EXPECT_GE(ok, 1);
}

}  // namespace
}  // namespace ternion
