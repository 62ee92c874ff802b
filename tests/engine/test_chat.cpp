// Conversation: turns dropped oldest first (never the system prompt), and the OpenAI-style JSON read back.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "ternion/core/error.h"
#include "ternion/engine/chat.h"

namespace ternion {
namespace {

using Json = nlohmann::ordered_json;

TEST(Conversation, DropsTheOldestTurnButNeverTheSystemPrompt) {
  Conversation c;
  c.set_system("be brief");
  c.add("user", "a");
  c.add("assistant", "b");
  c.add("user", "c");
  ASSERT_TRUE(c.drop_oldest_turn());
  EXPECT_EQ(c.messages(), Json::parse(R"([{"role":"system","content":"be brief"},{"role":"user","content":"c"}])"));
  EXPECT_FALSE(c.drop_oldest_turn()) << "the last user message stays";
  c.clear();
  EXPECT_TRUE(c.empty());
  EXPECT_EQ(c.system(), "be brief");
}

TEST(Conversation, JsonRoundTrip) {
  Conversation c;
  c.set_system("s");
  c.add("user", "line one\nline two");
  c.add("assistant", "ok");
  const Conversation back = Conversation::from_json(Json::parse(c.to_json().dump()), "chat.json");
  EXPECT_EQ(back.to_json(), c.to_json());
  EXPECT_EQ(back.system(), "s");
  EXPECT_EQ(back.size(), 2u);
}

TEST(Conversation, BadJsonNamesTheFileAndMessage) {
  try {
    Conversation::from_json(Json::parse(R"({"messages":[{"role":"user","content":"a"},{"role":"user"}]})"), "c.json");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("c.json: messages[1]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Conversation::from_json(Json::parse("{\"messages\": 3}"), "c.json"), Error);
}

}  // namespace
}  // namespace ternion
