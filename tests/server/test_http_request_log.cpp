// serve's request log (one line per answered request, with the model and token counts of generation requests,
// streamed or not) and --chat-template-file (a template used instead of the model's own).
#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <thread>

#include "server_fixture.h"

namespace ternion {
namespace {

using nlohmann::json;

// Every role and content on its own line: easy to render by hand.
constexpr const char* kTemplate = "{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}";

class RequestLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TERNION_REQUIRE_FIXTURE(test::server_model_path());
    server::ServerOptions o = test::default_options(2);
    o.chat_template = kTemplate;
    o.api_key = "k";  // the log and the key check share the library's one pre-routing handler
    o.request_log = [this](const std::string& line) {
      std::lock_guard<std::mutex> lock(mu_);
      lines_.push_back(line);
    };
    server_ = std::make_unique<test::RunningServer>(o);
  }
  void TearDown() override { server_.reset(); }

  // The logged line that starts with `prefix`; waits a little, as the log is written after the response.
  std::string line_starting(const std::string& prefix) {
    for (int i = 0; i < 200; ++i) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        for (const std::string& l : lines_) {
          if (l.starts_with(prefix)) return l;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return "";
  }

  std::mutex mu_;
  std::vector<std::string> lines_;
  std::unique_ptr<test::RunningServer> server_;
};

TEST_F(RequestLogTest, OneLinePerRequestWithModelAndTokens) {
  auto c = server_->client();
  c.set_bearer_token_auth("k");
  const json messages = json::array({{{"role", "user"}, {"content", "Who made the heaven?"}}});
  const json whole = test::post_json(c, "/v1/chat/completions", {{"messages", messages}, {"max_tokens", 5}});
  const std::string l = line_starting("request: POST /v1/chat/completions status=200");
  ASSERT_FALSE(l.empty());
  EXPECT_NE(l.find(" model=kjv-llama-Q8_0 "), std::string::npos) << l;
  EXPECT_NE(l.find(" prompt_tokens=" + std::to_string(whole["usage"]["prompt_tokens"].get<int64_t>()) +
                   " generated_tokens=" + std::to_string(whole["usage"]["completion_tokens"].get<int64_t>()) + " ms="),
            std::string::npos)
      << l;
  // A stream's counts come at its end.
  auto r = c.Post("/v1/completions", json({{"prompt", "In the"}, {"max_tokens", 4}, {"stream", true}}).dump(),
                  "application/json");
  ASSERT_TRUE(r);
  const std::string s = line_starting("request: POST /v1/completions status=200");
  EXPECT_NE(s.find(" generated_tokens=4 "), std::string::npos) << s;
  // Other routes and errors: method, path, status, time.
  c.Get("/health");
  EXPECT_NE(line_starting("request: GET /health status=200 ms="), "");
  c.Post("/v1/completions", "{", "application/json");
  EXPECT_NE(line_starting("request: POST /v1/completions status=400"), "");
  auto anonymous = server_->client();
  EXPECT_EQ(anonymous.Get("/v1/models")->status, 401);
  EXPECT_NE(line_starting("request: GET /v1/models status=401"), "");
}

TEST_F(RequestLogTest, ChatTemplateFileReplacesTheModelsTemplate) {
  auto c = server_->client();
  c.set_bearer_token_auth("k");
  const json messages =
      json::array({{{"role", "system"}, {"content", "Be brief."}}, {{"role", "user"}, {"content", "Hi"}}});
  const json chat =
      test::post_json(c, "/v1/chat/completions", {{"messages", messages}, {"max_tokens", 3}, {"temperature", 0}});
  const json raw = test::post_json(
      c, "/v1/completions", {{"prompt", "[system] Be brief.\n[user] Hi\n"}, {"max_tokens", 3}, {"temperature", 0}});
  EXPECT_EQ(chat["usage"]["prompt_tokens"], raw["usage"]["prompt_tokens"]);
  EXPECT_EQ(chat["choices"][0]["message"]["content"], raw["choices"][0]["text"]);
}

}  // namespace
}  // namespace ternion
