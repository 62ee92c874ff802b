// tool_choice "required" and a named function over HTTP, on the qwen3 fixture (random weights) given a short
// Hermes-format template (the fixture's 512 positions leave Qwen's own tool prompt too little room to answer).
#include <gtest/gtest.h>

#include <fstream>

#include "server_fixture.h"

namespace ternion {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Messages, then the tools as JSON, then the assistant's turn; "<tool_call>" tells the server the format.
constexpr const char* kTemplate = R"({%- for m in messages %}<|im_start|>{{ m.role }}
{{ m.content }}<|im_end|>
{% endfor %}{%- if tools %}<|im_start|>system
Reply with <tool_call></tool_call>.<|im_end|>
{% endif %}{%- if add_generation_prompt %}<|im_start|>assistant
{% endif %})";

class ToolChoice : public ::testing::Test {
 protected:
  static fs::path source() { return test::fixture("arch/qwen3"); }

  static void SetUpTestSuite() {
    if (!fs::exists(source())) return;
    dir_ = new fs::path(fs::temp_directory_path() / ("ternion-tool-choice-" + std::to_string(::getpid())));
    fs::create_directories(*dir_);
    for (const auto& e : fs::directory_iterator(source())) {
      fs::copy_file(e.path(), *dir_ / e.path().filename(), fs::copy_options::overwrite_existing);
      fs::permissions(*dir_ / e.path().filename(), fs::perms::owner_write, fs::perm_options::add);
    }
    std::ofstream(*dir_ / "chat_template.jinja") << kTemplate;
    server::ServerOptions o = test::default_options(2);
    o.models = {dir_->string()};
    o.ctx_size = 512;
    server_ = new test::RunningServer(o);
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    if (dir_ != nullptr) fs::remove_all(*dir_);
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override { TERNION_REQUIRE_FIXTURE(source()); }
  static fs::path* dir_;
  static test::RunningServer* server_;
};
fs::path* ToolChoice::dir_ = nullptr;
test::RunningServer* ToolChoice::server_ = nullptr;

const json kAsk = json::array({{{"role", "user"}, {"content", "Weather in Paris?"}}});

// tool_choice "required" and a named function: the grammar makes even random weights write a call in the
// template's (Hermes) format that parses, names an offered tool and has arguments valid for its parameters,
// whole and streamed, with finish_reason "tool_calls".
TEST_F(ToolChoice, RequiredAndNamedGiveValidCalls) {
  auto c = server_->client();
  const json tools = json::parse(R"([
    {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
      "properties": {"city": {"type": "string", "maxLength": 8}}, "required": ["city"], "additionalProperties": false}}},
    {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object",
      "properties": {"zone": {"enum": ["utc", "cet"]}}, "required": ["zone"], "additionalProperties": false}}}])");
  const auto check_call = [](const json& call) {
    ASSERT_EQ(call["type"], "function");
    EXPECT_TRUE(call["id"].is_string());
    const std::string name = call["function"]["name"];
    const json args = json::parse(call["function"]["arguments"].get<std::string>());
    if (name == "get_weather") {
      ASSERT_TRUE(args.contains("city") && args["city"].is_string()) << args.dump();
      size_t chars = 0;  // maxLength counts characters, not bytes
      for (unsigned char ch : args["city"].get<std::string>()) chars += (ch & 0xC0) != 0x80;
      EXPECT_LE(chars, 8u) << args.dump();
      EXPECT_EQ(args.size(), 1u);
    } else {
      EXPECT_EQ(name, "get_time");
      ASSERT_TRUE(args.contains("zone")) << args.dump();
      EXPECT_TRUE(args["zone"] == "utc" || args["zone"] == "cet") << args.dump();
    }
  };
  for (const json& choice : {json("required"), json({{"type", "function"}, {"function", {{"name", "get_time"}}}})}) {
    for (uint64_t seed : {1u, 2u, 3u}) {
      const json body = {
          {"messages", kAsk}, {"tools", tools},     {"tool_choice", choice}, {"parallel_tool_calls", false},
          {"seed", seed},     {"temperature", 1.0}, {"max_tokens", 200}};
      int status = 0;
      const json j = test::post_json(c, "/v1/chat/completions", body, &status);
      ASSERT_EQ(status, 200) << j.dump();
      const json& msg = j["choices"][0]["message"];
      ASSERT_TRUE(msg.contains("tool_calls")) << j.dump();
      ASSERT_EQ(msg["tool_calls"].size(), 1u) << j.dump();
      EXPECT_EQ(j["choices"][0]["finish_reason"], "tool_calls");
      check_call(msg["tool_calls"][0]);
      if (choice.is_object()) {
        EXPECT_EQ(msg["tool_calls"][0]["function"]["name"], "get_time");
      }
    }
  }
  // Streamed: the call comes as deltas.
  json body = {{"messages", kAsk},  {"tools", tools}, {"tool_choice", "required"},
               {"max_tokens", 200}, {"stream", true}, {"parallel_tool_calls", false}};
  auto r = c.Post("/v1/chat/completions", body.dump(), "application/json");
  ASSERT_TRUE(r);
  std::string name, args, finish;
  for (const json& f : test::sse_frames(r->body)) {
    if (f.is_string() || f["choices"].empty()) continue;
    const json& d = f["choices"][0]["delta"];
    if (d.contains("tool_calls")) {
      const json& fn = d["tool_calls"][0]["function"];
      if (fn.contains("name")) name += fn["name"].get<std::string>();
      args += fn.value("arguments", "");
    }
    if (!f["choices"][0]["finish_reason"].is_null()) finish = f["choices"][0]["finish_reason"];
  }
  EXPECT_EQ(finish, "tool_calls");
  check_call({{"type", "function"}, {"id", "x"}, {"function", {{"name", name}, {"arguments", args}}}});
  // Refusals: an unknown name, and a combination with response_format.
  int status = 0;
  json bad = test::post_json(
      c, "/v1/chat/completions",
      {{"messages", kAsk}, {"tools", tools}, {"tool_choice", {{"type", "function"}, {"function", {{"name", "nope"}}}}}},
      &status);
  EXPECT_EQ(status, 400);
  EXPECT_EQ(bad["error"]["param"], "tool_choice");
  bad = test::post_json(c, "/v1/chat/completions",
                        {{"messages", kAsk},
                         {"tools", tools},
                         {"tool_choice", "required"},
                         {"response_format", {{"type", "json_object"}}}},
                        &status);
  EXPECT_EQ(status, 400);
  bad = test::post_json(c, "/v1/chat/completions", {{"messages", kAsk}, {"tool_choice", "required"}}, &status);
  EXPECT_EQ(status, 400);
  EXPECT_NE(bad["error"]["message"].get<std::string>().find("needs 'tools'"), std::string::npos);
}

}  // namespace
}  // namespace ternion
