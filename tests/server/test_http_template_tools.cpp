// A model whose chat template has a tool-call format and opens the thinking in the prompt: a HuggingFace folder
// (the qwen3 fixture, random weights) given Qwen's template with tools and "<think>" after the assistant header.
// The reply parser's split must equal the raw text of the same prompt; tools reach the template (and leave it
// with tool_choice "none"); /api/show names the capabilities.
#include <gtest/gtest.h>

#include <fstream>

#include "server_fixture.h"
#include "ternion/convert/load_model.h"
#include "ternion/engine/chat.h"

namespace ternion {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

class TemplateTools : public ::testing::Test {
 protected:
  static fs::path source() { return test::fixture("arch/qwen3"); }
  static fs::path qwen_template() { return test::fixture("templates/Qwen-Qwen2.5-7B-Instruct.jinja"); }

  static void SetUpTestSuite() {
    if (!fs::exists(source()) || !fs::exists(qwen_template())) return;
    dir_ = new fs::path(fs::temp_directory_path() / ("ternion-tools-" + std::to_string(::getpid())));
    fs::create_directories(*dir_);
    for (const auto& e : fs::directory_iterator(source())) {
      fs::copy_file(e.path(), *dir_ / e.path().filename(), fs::copy_options::overwrite_existing);
      fs::permissions(*dir_ / e.path().filename(), fs::perms::owner_write, fs::perm_options::add);
    }
    std::string jinja = read_text(qwen_template());
    const std::string header = "{{- '<|im_start|>assistant\\n' }}\n{%- endif %}";
    const size_t at = jinja.rfind(header);
    if (at != std::string::npos) {
      jinja.replace(at, header.size(), "{{- '<|im_start|>assistant\\n<think>\\n' }}\n{%- endif %}");
    }
    std::ofstream(*dir_ / "chat_template.jinja") << jinja;
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
  void SetUp() override {
    TERNION_REQUIRE_FIXTURE(source());
    TERNION_REQUIRE_FIXTURE(qwen_template());
  }
  static fs::path* dir_;
  static test::RunningServer* server_;
};
fs::path* TemplateTools::dir_ = nullptr;
test::RunningServer* TemplateTools::server_ = nullptr;

const json kTools = {{{"type", "function"},
                      {"function",
                       {{"name", "get_weather"},
                        {"description", "The weather in a city"},
                        {"parameters", {{"type", "object"}, {"properties", {{"city", {{"type", "string"}}}}}}}}}}};
const json kAsk = json::array({{{"role", "user"}, {"content", "Weather in Paris?"}}});

TEST_F(TemplateTools, ShowsCapabilitiesAndTheFolder) {
  auto c = server_->client();
  const json show = test::post_json(c, "/api/show", {{"model", dir_->filename().string()}});
  EXPECT_EQ(show["capabilities"], json::array({"completion", "tools", "thinking"}));
  EXPECT_EQ(show["details"]["format"], "safetensors");
  EXPECT_EQ(show["details"]["family"], "qwen3");
  uint64_t bytes = 0;
  for (const auto& e : fs::directory_iterator(*dir_)) bytes += e.file_size();
  EXPECT_EQ(json::parse(c.Get("/api/tags")->body)["models"][0]["size"], bytes);
}

TEST_F(TemplateTools, ToolsReachTheTemplateUnlessToolChoiceIsNone) {
  auto c = server_->client();
  const auto prompt_tokens = [&](const json& extra) {
    json body = {{"messages", kAsk}, {"max_tokens", 1}};
    body.update(extra);
    int status = 0;
    const json j = test::post_json(c, "/v1/chat/completions", body, &status);
    EXPECT_EQ(status, 200) << j.dump();
    return j["usage"]["prompt_tokens"].get<int64_t>();
  };
  const int64_t plain = prompt_tokens(json::object());
  EXPECT_GT(prompt_tokens({{"tools", kTools}}), plain + 20) << "the tools are described in the prompt";
  EXPECT_EQ(prompt_tokens({{"tools", kTools}, {"tool_choice", "none"}}), plain);
  // Ollama's chat renders them too.
  const json o = test::post_json(c, "/api/chat",
                                 {{"model", dir_->filename().string()},
                                  {"messages", kAsk},
                                  {"tools", kTools},
                                  {"stream", false},
                                  {"options", {{"num_predict", 1}}}});
  EXPECT_GT(o["prompt_eval_count"].get<int64_t>(), plain + 20);
}

TEST_F(TemplateTools, ThinkingOpenedByTheTemplateIsSplitAsTheRawTextSays) {
  auto c = server_->client();
  // The raw text of the same prompt, through /v1/completions.
  const auto model = load_model(dir_->string());
  const Tokenizer tok(model->vocab());
  const ChatFormat format(tok, read_text(*dir_ / "chat_template.jinja"));
  const std::string rendered = format.render(nlohmann::ordered_json::parse(kAsk.dump()), true);
  ASSERT_TRUE(rendered.ends_with("<think>\n")) << rendered;
  const json raw =
      test::post_json(c, "/v1/completions", {{"prompt", rendered}, {"max_tokens", 24}, {"temperature", 0}});
  const std::string text = raw["choices"][0]["text"];
  std::string reasoning = text, content;
  if (const size_t close = text.find("</think>"); close != std::string::npos) {
    reasoning = text.substr(0, close);
    content = text.substr(close + 8);
    content.erase(0, content.find_first_not_of(" \t\r\n") == std::string::npos ? content.size()
                                                                               : content.find_first_not_of(" \t\r\n"));
  }
  const json chat =
      test::post_json(c, "/v1/chat/completions", {{"messages", kAsk}, {"max_tokens", 24}, {"temperature", 0}});
  EXPECT_EQ(chat["usage"]["prompt_tokens"], raw["usage"]["prompt_tokens"]);
  const json& msg = chat["choices"][0]["message"];
  EXPECT_EQ(msg.value("reasoning_content", ""), reasoning);
  EXPECT_EQ(msg["content"], content);
  EXPECT_FALSE(reasoning.empty());

  // Ollama calls it thinking, streamed or not.
  const json o = test::post_json(c, "/api/chat",
                                 {{"model", dir_->filename().string()},
                                  {"messages", kAsk},
                                  {"stream", false},
                                  {"options", {{"temperature", 0}, {"num_predict", 24}}}});
  EXPECT_EQ(o["message"].value("thinking", ""), reasoning);
  EXPECT_EQ(o["message"]["content"], content);
}

}  // namespace
}  // namespace ternion
