// LoRA adapters in the server: llama.cpp's GET/POST /lora-adapters and per-request `lora`, on kjv-llama with the
// fixture's PEFT adapter converted to GGUF. Requests at different scales share batches and never each other's
// cached keys: every answer equals the same request run alone (and scale 0 the model without adapters).
#include <gtest/gtest.h>
#include <unistd.h>

#include <future>

#include "server_fixture.h"
#include "ternion/convert/convert.h"
#include "ternion/convert/hf_checkpoint.h"

namespace ternion {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

fs::path adapter_dir() { return test::fixture("arch/lora-kjv-llama"); }
fs::path base_dir() { return test::fixture("hf/kjv-llama"); }

class HttpLora : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(adapter_dir() / "adapter_model.safetensors") || !fs::exists(test::server_model_path())) return;
    adapter_ = new fs::path(fs::temp_directory_path() / ("ternion-http-lora-" + std::to_string(::getpid()) + ".gguf"));
    ConvertOptions o;
    o.type = DType::F32;
    convert_to_gguf(load_peft_adapter(adapter_dir().string(), base_dir().string()), adapter_->string(), o);
    server::ServerOptions so = test::default_options(4);
    so.lora = {{adapter_->string(), 1.0f}};
    server_ = new test::RunningServer(so);
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    if (adapter_ != nullptr) fs::remove(*adapter_);
    delete adapter_;
    adapter_ = nullptr;
  }
  void SetUp() override {
    TERNION_REQUIRE_FIXTURE(adapter_dir() / "adapter_model.safetensors");
    TERNION_REQUIRE_FIXTURE(test::server_model_path());
  }
  static fs::path* adapter_;
  static test::RunningServer* server_;
};
fs::path* HttpLora::adapter_ = nullptr;
test::RunningServer* HttpLora::server_ = nullptr;

json greedy(const std::string& prompt, const json& lora = nullptr) {
  json body = {{"prompt", prompt}, {"max_tokens", 12}, {"temperature", 0}};
  if (!lora.is_null()) body["lora"] = lora;
  return body;
}

std::vector<int32_t> tokens_of(httplib::Client& c, const json& body) {
  int status = 0;
  const json j = test::post_json(c, "/generate", body, &status);
  EXPECT_EQ(status, 200) << j.dump();
  return j["tokens"].get<std::vector<int32_t>>();
}

const json kOff = json::array({{{"id", 0}, {"scale", 0.0}}});
const json kHalf = json::array({{{"id", 0}, {"scale", 0.5}}});

TEST_F(HttpLora, ListSetAndPerRequestScales) {
  auto c = server_->client();
  const json list = json::parse(c.Get("/lora-adapters")->body);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["id"], 0);
  EXPECT_EQ(list[0]["path"], adapter_->string());
  EXPECT_EQ(list[0]["scale"], 1.0);

  const std::string prompt = "And God said, Let there be";
  const auto adapted = tokens_of(c, greedy(prompt));  // the server's scale, 1
  const auto off = tokens_of(c, greedy(prompt, kOff));
  const auto half = tokens_of(c, greedy(prompt, kHalf));
  EXPECT_NE(adapted, off) << "the adapter changes the greedy tokens";
  // Scale 0 is the model without adapters, and a slot's keys at one scale are not reused at another.
  {
    server::ServerOptions plain = test::default_options(1);
    test::RunningServer base(plain);
    auto bc = base.client();
    EXPECT_EQ(tokens_of(bc, greedy(prompt)), off);
  }
  EXPECT_EQ(tokens_of(c, greedy(prompt)), adapted);
  EXPECT_EQ(tokens_of(c, greedy(prompt, json::array())), off) << "adapters not listed run at 0";

  // Mixed scales at once, batched together: each as when run alone.
  std::vector<std::future<std::vector<int32_t>>> runs;
  const json scales[] = {nullptr, kOff, kHalf, kOff, nullptr, kHalf};
  for (const json& s : scales) {
    runs.push_back(std::async(std::launch::async, [&, s] {
      auto cc = server_->client();
      return tokens_of(cc, greedy(prompt, s));
    }));
  }
  for (size_t i = 0; i < runs.size(); ++i) {
    const auto got = runs[i].get();
    EXPECT_EQ(got, scales[i].is_null() ? adapted : scales[i] == kOff ? off : half) << "request " << i;
  }

  // POST sets the scales of requests that give none.
  int status = 0;
  json r = test::post_json(c, "/lora-adapters", kOff, &status);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(r["success"], true);
  EXPECT_EQ(json::parse(c.Get("/lora-adapters")->body)[0]["scale"], 0.0);
  EXPECT_EQ(tokens_of(c, greedy(prompt)), off);
  test::post_json(c, "/lora-adapters", json::array({{{"id", 0}, {"scale", 1.0}}}), &status);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(tokens_of(c, greedy(prompt)), adapted);
}

TEST_F(HttpLora, BadAdapterListsAre400s) {
  auto c = server_->client();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"/lora-adapters", R"([{"id": 1, "scale": 1}])"},
      {"/lora-adapters", R"({"id": 0, "scale": 1})"},
      {"/lora-adapters", R"([{"id": 0, "scale": "big"}])"},
      {"/lora-adapters", R"([{"id": 0, "scale": 1}, {"id": 0, "scale": 2}])"},
      {"/lora-adapters", "not json"},
      {"/generate", R"({"prompt": "a", "lora": [{"id": -1, "scale": 1}]})"},
      {"/v1/completions", R"({"prompt": "a", "lora": 3})"},
  };
  for (const auto& [path, body] : cases) {
    auto r = c.Post(path.c_str(), body, "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << path << " " << body << " -> " << r->body;
  }
  EXPECT_EQ(json::parse(c.Get("/lora-adapters")->body)[0]["scale"], 1.0) << "a refused POST changes nothing";
}

}  // namespace
}  // namespace ternion
