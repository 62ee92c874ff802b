// The 208 renderings of real chat templates in fixtures/templates/cases.json (made with Python jinja2 as HF
// transformers configures it) must come out byte for byte, or raise the same exception.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "support/test_support.h"
#include "ternion/core/error.h"
#include "ternion/tokenizer/chat_template.h"

namespace ternion {
namespace {

std::string read_file(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::tm fixture_time() {  // the fixtures were rendered with strftime_now fixed at 2026-01-15 12:00:00
  std::tm t{};
  t.tm_year = 2026 - 1900;
  t.tm_mon = 0;
  t.tm_mday = 15;
  t.tm_hour = 12;
  t.tm_wday = 4;
  t.tm_yday = 14;
  return t;
}

TEST(ChatTemplate, FixtureCases) {
  const auto path = test::fixture("templates/cases.json");
  TERNION_REQUIRE_FIXTURE(path);
  const auto doc = nlohmann::ordered_json::parse(read_file(path));
  const auto& cases = doc.at("cases");
  size_t passed = 0;
  for (const auto& c : cases) {
    const std::string name = c.at("template").get<std::string>() + " / " + c.at("conversation").get<std::string>() +
                             (c.at("add_generation_prompt").get<bool>() ? " +gen" : "") +
                             (c.at("with_tools").get<bool>() ? " +tools" : "");
    std::string got, error;
    try {
      ChatTemplate t(read_file(test::fixture("templates/" + c.at("template").get<std::string>())));
      t.set_now(fixture_time());
      got = t.render(c.at("context"));
    } catch (const Error& e) {
      error = e.what();
    }
    if (c.contains("expected_error")) {
      const auto want = c.at("expected_error").get<std::string>();
      const bool ok = error.find(want) != std::string::npos;
      EXPECT_TRUE(ok) << name << ": expected error '" << want << "', got '" << error << "'";
      passed += ok;
    } else {
      const auto want = c.at("expected").get<std::string>();
      EXPECT_EQ(error, "") << name;
      if (error.empty() && got != want) {  // show where they part, not two pages of text
        size_t at = 0;
        while (at < got.size() && at < want.size() && got[at] == want[at]) ++at;
        const size_t from = at > 60 ? at - 60 : 0;
        ADD_FAILURE() << name << ": output differs at byte " << at << "\n  want: ..." << want.substr(from, 160)
                      << "\n  got:  ..." << got.substr(from, 160);
      }
      passed += error.empty() && got == want;
    }
  }
  std::printf("chat template fixture cases passed: %zu/%zu\n", passed, cases.size());
  EXPECT_EQ(passed, cases.size());
}

TEST(ChatTemplate, ApplyChatTemplate) {
  const std::string src =
      "{{ bos_token }}{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}"
      "{% if add_generation_prompt %}<assistant>{% endif %}{% if tools is defined %}{{ tools|length }}{% endif %}";
  const auto messages = nlohmann::ordered_json::parse(R"([{"role":"user","content":"hi"}])");
  EXPECT_EQ(apply_chat_template(src, messages, true, "<s>", "</s>"), "<s><user>hi<assistant>");
  const auto tools = nlohmann::ordered_json::parse(R"([{"name":"f"}])");
  EXPECT_EQ(apply_chat_template(src, messages, false, "", "", &tools), "<user>hi1");
}

}  // namespace
}  // namespace ternion
