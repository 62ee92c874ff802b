// The server's pieces on their own: stop strings, API-key checks, request validation, metrics text.
#include <gtest/gtest.h>

#include "ternion/engine/stop_text.h"
#include "ternion/server/api_error.h"
#include "ternion/server/auth.h"
#include "ternion/server/metrics.h"
#include "ternion/server/openai_schema.h"

namespace ternion::server {
namespace {

std::string feed(StopTextFilter& f, const std::vector<std::string>& pieces,
                 std::vector<std::string>* emitted = nullptr) {
  std::string out;
  for (const auto& p : pieces) {
    const std::string e = f.push(p);
    if (emitted != nullptr) emitted->push_back(e);
    out += e;
    if (f.stopped()) return out;
  }
  return out + f.flush();
}

TEST(StopText, StopStringSplitAcrossPiecesIsNeverEmitted) {
  StopTextFilter f({"\nUser:"});
  std::vector<std::string> emitted;
  EXPECT_EQ(feed(f, {"Hello", " there\n", "Us", "er", ": more"}, &emitted), "Hello there");
  EXPECT_TRUE(f.stopped());
  for (const auto& e : emitted) EXPECT_EQ(e.find('\n'), std::string::npos) << "held-back text leaked: " << e;
}

TEST(StopText, FalseStartIsReleasedAndEarliestStopWins) {
  StopTextFilter f({"abc", "bd"});
  EXPECT_EQ(feed(f, {"xa", "b", "x", "ab", "d"}), "xabxa");
  StopTextFilter g({"END"});
  EXPECT_EQ(feed(g, {"the E", "N", "D."}), "the ");
  StopTextFilter h({"END"});
  EXPECT_EQ(feed(h, {"the E", "N"}), "the EN");  // generation ended: what was held back is text
  EXPECT_FALSE(h.stopped());
  StopTextFilter none({});
  EXPECT_EQ(none.push("abc"), "abc");
}

TEST(StopText, HeldBackTextKeepsUtf8Whole) {
  StopTextFilter f({"é!"});
  EXPECT_EQ(f.push("caf\xc3\xa9"), "caf");
  EXPECT_EQ(f.push("s"), "\xc3\xa9s");
}

TEST(Auth, ConstantTimeCompareAndBearer) {
  EXPECT_TRUE(constant_time_equal("secret", "secret"));
  EXPECT_FALSE(constant_time_equal("secret", "secreT"));
  EXPECT_FALSE(constant_time_equal("secret", "secret2"));
  EXPECT_FALSE(constant_time_equal("", "x"));
  EXPECT_TRUE(constant_time_equal("", ""));
  EXPECT_TRUE(bearer_matches("Bearer k1", "k1"));
  EXPECT_TRUE(bearer_matches("bearer k1", "k1"));
  EXPECT_FALSE(bearer_matches("Bearer k2", "k1"));
  EXPECT_FALSE(bearer_matches("k1", "k1"));
  EXPECT_FALSE(bearer_matches("", "k1"));
}

void expect_400(const std::string& body, Endpoint e, const std::string& needle) {
  try {
    parse_generation_request(body, e);
    ADD_FAILURE() << "accepted: " << body;
  } catch (const ApiError& err) {
    EXPECT_EQ(err.status(), 400) << body;
    EXPECT_NE(std::string(err.what()).find(needle), std::string::npos) << err.what();
    EXPECT_EQ(err.body()["error"]["type"], "invalid_request_error");
  }
}

TEST(Schema, RejectsBadRequestsWithUsefulMessages) {
  const Endpoint chat = Endpoint::kChat, cmpl = Endpoint::kCompletion;
  expect_400("{", chat, "not valid JSON");
  expect_400("[1]", chat, "JSON object");
  expect_400(R"({"messages": "hi"})", chat, "'messages' must be a non-empty array");
  expect_400(R"({})", chat, "'messages' is required");
  expect_400(R"({"messages": [{"content": "x"}]})", chat, "role");
  expect_400(R"({"messages": [{"role": "user", "content": 5}]})", chat, "content");
  expect_400(R"({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})", chat, "only text parts");
  expect_400(R"({"messages": [{"role": "user", "content": "x"}], "n": 200})", chat, "n must be in [1, 128], got 200");
  expect_400(R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": 0})", chat,
             "max_tokens must be in [1, 16777216], got 0");
  expect_400(R"({"messages": [{"role": "user", "content": "x"}], "max_completion_tokens": -3})", chat,
             "max_completion_tokens must be in [1, ");
  expect_400(R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": 99999999999})", chat, "got 99999999999");
  expect_400(R"({"messages": [{"role": "user", "content": "x"}], "temperature": "hot"})", chat, "a number");
  expect_400(R"({"messages": [{"role": "user", "content": "x"}], "temperature": -0.5})", chat,
             "temperature must be at least 0, got -0.5");
  expect_400(R"({"messages": [{"role": "user", "content": "x"}], "top_p": 0})", chat, "top_p");
  expect_400(R"({"messages": [{"role": "user", "content": "x"}], "stream": "yes"})", chat, "boolean");
  expect_400(R"({"messages": [{"role": "user", "content": "x"}], "stop": [1]})", chat, "stop");
  expect_400(R"({"messages": [{"role": "user", "content": "x"}], "logit_bias": {"a": 1}})", chat, "token ids");
  expect_400(R"({"messages": [{"role": "user", "content": "x"}], "logit_bias": {"5": 500}})", chat, "[-100, 100]");
  expect_400(R"({"messages": [{"role": "user", "content": "x"}], "top_logprobs": 3})", chat, "logprobs");
  expect_400(R"({"messages": [{"role": "user", "content": "x"}], "seed": 1.5})", chat, "integer");
  expect_400(R"({"prompt": ""})", cmpl, "empty");
  expect_400(R"({"prompt": ["a", 3]})", cmpl, "an array of strings and token-id arrays");
  expect_400(R"({"prompt": [[1], []]})", cmpl, "an array of strings and token-id arrays");
  expect_400(R"({"prompt": "x", "n": 2})", Endpoint::kGenerate, "'n' must be 1");
  expect_400(R"({"prompt": {"x": 1}})", cmpl, "prompt");
  expect_400(R"({"prompt": "x", "logprobs": 50})", cmpl, "logprobs");
  expect_400(R"({"prompt": "x", "echo": true})", cmpl, "echo");
}

TEST(Schema, ReadsFields) {
  const ParsedRequest r = parse_generation_request(
      R"({"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}],
          "max_completion_tokens": 7, "temperature": 0, "top_k": 5, "seed": 42, "stop": "x", "stream": true,
          "stream_options": {"include_usage": true}, "logprobs": true, "top_logprobs": 2, "logit_bias": {"17": -100},
          "some_future_field": {"any": "thing"}, "presence_penalty": null})",
      Endpoint::kChat);
  EXPECT_EQ(r.model, "m");
  EXPECT_EQ(r.messages[0]["content"], "ab");
  EXPECT_EQ(r.max_tokens, 7);
  EXPECT_EQ(r.spec.sampling.temperature, 0.0f);
  EXPECT_EQ(r.spec.sampling.top_k, 5);
  EXPECT_EQ(r.spec.sampling.seed, 42u);
  EXPECT_EQ(r.spec.stop, std::vector<std::string>{"x"});
  EXPECT_TRUE(r.stream && r.include_usage);
  EXPECT_EQ(r.spec.logprobs, 2);
  ASSERT_EQ(r.spec.sampling.logit_bias.size(), 1u);
  EXPECT_EQ(r.spec.sampling.logit_bias[0].first, 17);
  const ParsedRequest c = parse_generation_request(R"({"prompt": [[1, 2, 3]], "logprobs": 0})", Endpoint::kCompletion);
  EXPECT_TRUE(c.prompt_is_ids);
  EXPECT_EQ(c.prompt_ids, (std::vector<int32_t>{1, 2, 3}));
  EXPECT_TRUE(c.more_prompts.empty());
  const ParsedRequest many = parse_generation_request(R"({"prompt": ["a", [4, 5]], "n": 3})", Endpoint::kCompletion);
  EXPECT_EQ(many.prompt, "a");
  EXPECT_FALSE(many.prompt_is_ids);
  ASSERT_EQ(many.more_prompts.size(), 1u);
  EXPECT_TRUE(many.more_prompts[0].is_ids);
  EXPECT_EQ(many.more_prompts[0].ids, (std::vector<int32_t>{4, 5}));
  EXPECT_EQ(many.n, 3);
  EXPECT_EQ(c.logprobs, 0);
}

TEST(Metrics, PrometheusText) {
  Metrics m;
  m.count_request("/v1/completions", 200);
  m.count_request("/v1/completions", 200);
  m.count_request("/v1/completions", 400);
  m.add_tokens("m", 10, 5);
  m.observe_ttft(0.02);
  m.observe_inter_token(0.003);
  ModelGauges g;
  g.model = "a\"b";
  g.queue_depth = 3;
  g.kv_cells_used = 50;
  g.kv_cells_total = 100;
  const std::string t = m.render({g});
  EXPECT_NE(t.find("ternion_requests_total{endpoint=\"/v1/completions\",status=\"200\"} 2\n"), std::string::npos) << t;
  EXPECT_NE(t.find("ternion_requests_total{endpoint=\"/v1/completions\",status=\"400\"} 1\n"), std::string::npos);
  EXPECT_NE(t.find("ternion_prompt_tokens_total{model=\"m\"} 10\n"), std::string::npos);
  EXPECT_NE(t.find("ternion_generated_tokens_total{model=\"m\"} 5\n"), std::string::npos);
  EXPECT_NE(t.find("ternion_queue_depth{model=\"a\\\"b\"} 3\n"), std::string::npos) << t;
  EXPECT_NE(t.find("ternion_kv_cache_usage_ratio{model=\"a\\\"b\"} 0.5\n"), std::string::npos);
  EXPECT_NE(t.find("ternion_time_to_first_token_seconds_bucket{le=\"0.025\"} 1\n"), std::string::npos);
  EXPECT_NE(t.find("ternion_time_to_first_token_seconds_bucket{le=\"0.01\"} 0\n"), std::string::npos);
  EXPECT_NE(t.find("ternion_inter_token_latency_seconds_count 1\n"), std::string::npos);
}

}  // namespace
}  // namespace ternion::server
