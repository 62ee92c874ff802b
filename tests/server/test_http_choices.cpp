// Several choices per request over HTTP: OpenAI's n (chat and completions, whole and streamed) and completions
// prompt arrays (strings and token-id arrays), batched through the session's slots. Choice j samples with the
// request's seed + j, so each choice equals a one-choice request with that seed.
#include <gtest/gtest.h>

#include <set>

#include "server_fixture.h"

namespace ternion {
namespace {

using nlohmann::json;

class HttpChoices : public ::testing::Test {
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
test::RunningServer* HttpChoices::server_ = nullptr;

const json kHello = json::array({{{"role", "user"}, {"content", "Hello"}}});

json sampled_chat(int n, uint64_t seed) {
  return {{"messages", kHello}, {"max_tokens", 8}, {"temperature", 1.5}, {"seed", seed}, {"n", n}};
}

TEST_F(HttpChoices, ChatNGivesSeededChoices) {
  auto c = server_->client();
  int status = 0;
  const json many = test::post_json(c, "/v1/chat/completions", sampled_chat(3, 77), &status);
  ASSERT_EQ(status, 200) << many.dump();
  ASSERT_EQ(many["choices"].size(), 3u);
  int64_t completion = 0;
  std::set<std::string> distinct;
  for (int i = 0; i < 3; ++i) {
    const json& choice = many["choices"][i];
    EXPECT_EQ(choice["index"], i);
    const json one = test::post_json(c, "/v1/chat/completions", sampled_chat(1, 77 + i));
    EXPECT_EQ(choice["message"]["content"], one["choices"][0]["message"]["content"]) << "choice " << i;
    EXPECT_EQ(choice["finish_reason"], one["choices"][0]["finish_reason"]);
    completion += one["usage"]["completion_tokens"].get<int64_t>();
    distinct.insert(choice["message"]["content"].get<std::string>());
    if (i == 0) {
      EXPECT_EQ(many["usage"]["prompt_tokens"], one["usage"]["prompt_tokens"]) << "the prompt counts once";
    }
  }
  EXPECT_GT(distinct.size(), 1u) << "different seeds should give different samples";
  EXPECT_EQ(many["usage"]["completion_tokens"], completion);
}

TEST_F(HttpChoices, StreamedChatNMatchesTheWholeAnswer) {
  auto c = server_->client();
  json body = sampled_chat(5, 9);  // more choices than slots: the rest wait in the queue
  body["stream_options"] = {{"include_usage", true}};
  const json whole = test::post_json(c, "/v1/chat/completions", body);
  body["stream"] = true;
  auto r = c.Post("/v1/chat/completions", body.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  const auto frames = test::sse_frames(r->body);
  ASSERT_GE(frames.size(), 3u);
  std::vector<std::string> text(5);
  std::vector<std::string> finish(5);
  std::string id;
  for (size_t i = 0; i + 2 < frames.size(); ++i) {
    const json& f = frames[i];
    if (id.empty()) id = f["id"];
    EXPECT_EQ(f["id"], id) << "one id for every chunk";
    const size_t index = f["choices"][0]["index"].get<size_t>();
    ASSERT_LT(index, 5u);
    const json& delta = f["choices"][0]["delta"];
    if (delta.contains("content")) text[index] += delta["content"].get<std::string>();
    if (!f["choices"][0]["finish_reason"].is_null()) finish[index] = f["choices"][0]["finish_reason"];
  }
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(text[i], whole["choices"][i]["message"]["content"]) << "choice " << i;
    EXPECT_EQ(finish[i], whole["choices"][i]["finish_reason"]) << "choice " << i;
  }
  EXPECT_EQ(frames[frames.size() - 2]["usage"], whole["usage"]);
  EXPECT_EQ(frames.back(), "[DONE]");
}

TEST_F(HttpChoices, CompletionPromptArrays) {
  auto c = server_->client();
  const json one_a =
      test::post_json(c, "/v1/completions", {{"prompt", "In the beginning"}, {"max_tokens", 6}, {"temperature", 0}});
  const json one_b =
      test::post_json(c, "/v1/completions", {{"prompt", "And God said"}, {"max_tokens", 6}, {"temperature", 0}});
  // The same prompt as token ids (with the BOS the text prompt gets).
  const json token_prompt =
      test::post_json(c, "/tokenize", {{"content", "And God said"}, {"add_special", true}})["tokens"];
  ASSERT_EQ(token_prompt.size(), one_b["usage"]["prompt_tokens"].get<size_t>());
  int status = 0;
  // Strings, a token array and n = 2 at temperature 0: each prompt's two choices are its greedy answer.
  const json many = test::post_json(
      c, "/v1/completions",
      {{"prompt", json::array({"In the beginning", "And God said"})}, {"max_tokens", 6}, {"temperature", 0}, {"n", 2}},
      &status);
  ASSERT_EQ(status, 200) << many.dump();
  ASSERT_EQ(many["choices"].size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(many["choices"][i]["index"], i);
    EXPECT_EQ(many["choices"][i]["text"], (i < 2 ? one_a : one_b)["choices"][0]["text"]) << "choice " << i;
  }
  EXPECT_EQ(many["usage"]["prompt_tokens"],
            one_a["usage"]["prompt_tokens"].get<int64_t>() + one_b["usage"]["prompt_tokens"].get<int64_t>());
  EXPECT_EQ(many["usage"]["completion_tokens"], 2 * (one_a["usage"]["completion_tokens"].get<int64_t>() +
                                                     one_b["usage"]["completion_tokens"].get<int64_t>()));
  // An array of token-id arrays.
  const json by_ids = test::post_json(
      c, "/v1/completions",
      {{"prompt", json::array({token_prompt, token_prompt})}, {"max_tokens", 6}, {"temperature", 0}}, &status);
  ASSERT_EQ(status, 200) << by_ids.dump();
  ASSERT_EQ(by_ids["choices"].size(), 2u);
  EXPECT_EQ(by_ids["choices"][1]["text"], one_b["choices"][0]["text"]);
  // Streamed: the texts come back per index.
  auto r = c.Post("/v1/completions",
                  json({{"prompt", json::array({"In the beginning", "And God said"})},
                        {"max_tokens", 6},
                        {"temperature", 0},
                        {"stream", true}})
                      .dump(),
                  "application/json");
  ASSERT_TRUE(r);
  std::vector<std::string> text(2);
  for (const json& f : test::sse_frames(r->body)) {
    if (f.is_string()) continue;
    text[f["choices"][0]["index"].get<size_t>()] += f["choices"][0]["text"].get<std::string>();
  }
  EXPECT_EQ(text[0], one_a["choices"][0]["text"]);
  EXPECT_EQ(text[1], one_b["choices"][0]["text"]);
}

}  // namespace
}  // namespace ternion
