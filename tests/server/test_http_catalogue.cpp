// The server's catalogue of bad and unusual requests, each as a real HTTP client sends it: wrong methods, empty,
// huge, malformed and oddly typed bodies, every sampling parameter out of its rule, unknown models and routes.
// Each gets its status and a JSON error whose message is one line naming the problem (and the field, where one is
// at fault). Then the protocol edges: CORS preflights of the openai SDK, long keep-alive, Retry-After, a second
// server on a taken port.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "server_fixture.h"
#include "ternion/core/error.h"

namespace ternion {
namespace {

using nlohmann::json;

struct BadRequest {
  const char* name;
  const char* method;
  const char* path;
  std::string body;
  const char* content_type;
  int status;
  std::string needle;
  std::string param = "";  // the error's "param", when a field is at fault
};

std::string completion(const std::string& extra) {
  return R"({"prompt": "In the beginning", "max_tokens": 2)" + (extra.empty() ? "" : ", " + extra) + "}";
}

std::string chat(const std::string& extra) {
  return R"({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2)" + (extra.empty() ? "" : ", " + extra) +
         "}";
}

constexpr size_t kMaxBody = 65536;
constexpr const char* kJson = "application/json";
constexpr const char* kForm = "application/x-www-form-urlencoded";

const std::vector<BadRequest>& catalogue() {
  static const std::vector<BadRequest> cases = {
      {"GetOnPostRoute", "GET", "/v1/completions", "", kJson, 405, "/v1/completions takes POST, not GET"},
      {"PutOnGetRoute", "PUT", "/v1/models", "{}", kJson, 405, "takes GET"},
      {"DeleteOnChat", "DELETE", "/v1/chat/completions", "", kJson, 405, "takes POST"},
      {"PatchOnGenerate", "PATCH", "/generate", "{}", kJson, 405, "takes POST"},
      {"UnknownRoute", "GET", "/v2/nothing", "", kJson, 404, "no route GET /v2/nothing"},
      {"UnknownPostRoute", "POST", "/v1/embeddings", "{}", kJson, 404, "no route POST /v1/embeddings"},
      {"EmptyBody", "POST", "/v1/completions", "", kJson, 400, "the request body is empty"},
      {"WhitespaceBody", "POST", "/v1/chat/completions", " \n ", kJson, 400, "the request body is empty"},
      {"EmptyFormBody", "POST", "/tokenize", "", kForm, 400, "the request body is empty"},
      {"NotJson", "POST", "/v1/completions", "hello", kJson, 400, "not valid JSON"},
      {"TruncatedJson", "POST", "/v1/completions", R"({"prompt": "a)", kJson, 400, "not valid JSON"},
      {"JsonArray", "POST", "/v1/completions", "[1, 2]", kJson, 400, "must be a JSON object"},
      {"DeeplyNestedJson", "POST", "/v1/completions", std::string(20000, '[') + std::string(20000, ']'), kJson, 400,
       "must be a JSON object"},
      {"InvalidUtf8", "POST", "/v1/completions", "{\"prompt\": \"\xff\xfe\"}", kJson, 400, "not valid JSON"},
      {"TooLarge", "POST", "/v1/completions", std::string(kMaxBody + 1, ' '), kJson, 413, "limit of 65536 bytes"},
      {"TooLargeAsForm", "POST", "/v1/completions", std::string(kMaxBody + 1, ' '), kForm, 413, "limit of 65536 bytes"},
      {"Multipart", "POST", "/v1/completions", "--x\r\n\r\n--x--\r\n", "multipart/form-data; boundary=x", 415,
       "multipart"},
      {"TopPTwo", "POST", "/v1/completions", completion(R"("top_p": 2)"), kJson, 400, "top_p must be in (0, 1], got 2",
       "top_p"},
      {"TopPZero", "POST", "/v1/completions", completion(R"("top_p": 0)"), kJson, 400, "got 0", "top_p"},
      {"NegativeTemperature", "POST", "/v1/chat/completions", chat(R"("temperature": -1)"), kJson, 400,
       "temperature must be at least 0, got -1", "temperature"},
      {"TemperatureString", "POST", "/v1/chat/completions", chat(R"("temperature": "hot")"), kJson, 400,
       "must be a number", "temperature"},
      {"NegativeTopK", "POST", "/v1/completions", completion(R"("top_k": -1)"), kJson, 400,
       "top_k must be in [0, 2147483647], got -1", "top_k"},
      {"FractionalTopK", "POST", "/v1/completions", completion(R"("top_k": 1.5)"), kJson, 400, "an integer", "top_k"},
      {"MinPTwo", "POST", "/v1/completions", completion(R"("min_p": 2)"), kJson, 400, "min_p must be in [0, 1]",
       "min_p"},
      {"PresencePenalty", "POST", "/v1/chat/completions", chat(R"("presence_penalty": 3)"), kJson, 400,
       "presence_penalty must be in [-2, 2], got 3", "presence_penalty"},
      {"FrequencyPenalty", "POST", "/v1/chat/completions", chat(R"("frequency_penalty": -2.5)"), kJson, 400, "got -2.5",
       "frequency_penalty"},
      {"RepeatPenaltyZero", "POST", "/generate", completion(R"("repeat_penalty": 0)"), kJson, 400, "repeat_penalty",
       "repeat_penalty"},
      {"TooManyChoices", "POST", "/v1/chat/completions", chat(R"("n": 129)"), kJson, 400,
       "n must be in [1, 128], got 129", "n"},
      {"ZeroMaxTokens", "POST", "/v1/completions", R"({"prompt": "x", "max_tokens": 0})", kJson, 400,
       "max_tokens must be in [1, 16777216], got 0", "max_tokens"},
      {"HugeMaxTokens", "POST", "/v1/completions", R"({"prompt": "x", "max_tokens": 1000000000000})", kJson, 400,
       "max_tokens", "max_tokens"},
      {"MaxTokensString", "POST", "/v1/completions", R"({"prompt": "x", "max_tokens": "2"})", kJson, 400,
       "must be an integer", "max_tokens"},
      {"MaxCompletionTokensZero", "POST", "/v1/chat/completions", chat(R"("max_completion_tokens": 0)"), kJson, 400,
       "max_completion_tokens must be", "max_completion_tokens"},
      {"FractionalSeed", "POST", "/v1/completions", completion(R"("seed": 1.5)"), kJson, 400, "an integer", "seed"},
      {"NegativeSeed", "POST", "/v1/completions", completion(R"("seed": -2)"), kJson, 400, "seed must be in [-1, ",
       "seed"},
      {"UnknownModel", "POST", "/v1/completions", completion(R"("model": "nope")"), kJson, 404, "nope"},
      {"UnknownModelGet", "GET", "/v1/models/nope", "", kJson, 404, "nope"},
      {"MessagesNotArray", "POST", "/v1/chat/completions", R"({"messages": "hi"})", kJson, 400, "messages", "messages"},
      {"NoPrompt", "POST", "/v1/completions", R"({"max_tokens": 2})", kJson, 400, "prompt", "prompt"},
      {"BadLogitBias", "POST", "/v1/completions", completion(R"("logit_bias": {"x": 1})"), kJson, 400, "logit_bias",
       "logit_bias"},
      {"TooManyStops", "POST", "/v1/completions",
       completion(R"("stop": ["a","b","c","d","e","f","g","h","i","j","k","l","m","n","o","p","q"])"), kJson, 400,
       "stop", "stop"},
      {"DetokenizeOutOfVocabulary", "POST", "/detokenize", R"({"tokens": [99999999]})", kJson, 400, "tokens", "tokens"},
      {"TokenizeNoContent", "POST", "/tokenize", R"({"content": 5})", kJson, 400, "content", "content"},
  };
  return cases;
}

void PrintTo(const BadRequest& c, std::ostream* os) { *os << c.name << ": " << c.method << " " << c.path; }

test::RunningServer* g_server = nullptr;

server::ServerOptions catalogue_options() {
  server::ServerOptions o = test::default_options(1);
  o.max_body_bytes = kMaxBody;
  o.cors_origin = "http://localhost:3000";
  return o;
}

class HttpCatalogue : public ::testing::TestWithParam<BadRequest> {
 protected:
  static void SetUpTestSuite() {
    if (std::filesystem::exists(test::server_model_path())) g_server = new test::RunningServer(catalogue_options());
  }
  static void TearDownTestSuite() {
    delete g_server;
    g_server = nullptr;
  }
  void SetUp() override { TERNION_REQUIRE_FIXTURE(test::server_model_path()); }
};

httplib::Result send(httplib::Client& c, const BadRequest& r) {
  const std::string m = r.method;
  if (m == "GET") return c.Get(r.path);
  if (m == "POST") return c.Post(r.path, r.body, r.content_type);
  if (m == "PUT") return c.Put(r.path, r.body, r.content_type);
  if (m == "PATCH") return c.Patch(r.path, r.body, r.content_type);
  return c.Delete(r.path, r.body, r.content_type);
}

TEST_P(HttpCatalogue, AnsweredWithOneLineJsonError) {
  const BadRequest& c = GetParam();
  auto client = g_server->client();
  const auto r = send(client, c);
  ASSERT_TRUE(r) << "no answer";
  EXPECT_EQ(r->status, c.status) << r->body;
  const json body = json::parse(r->body, nullptr, false);
  ASSERT_TRUE(body.is_object() && body.contains("error")) << r->body;
  const std::string message = body["error"]["message"].get<std::string>();
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  EXPECT_NE(message.find(c.needle), std::string::npos) << "wanted: " << c.needle << "\ngot: " << message;
  if (!c.param.empty()) {
    EXPECT_EQ(body["error"]["param"], c.param) << r->body;
  }
  if (c.status == 405) {
    EXPECT_FALSE(r->get_header_value("Allow").empty());
  }
  // The server keeps answering.
  EXPECT_EQ(client.Get("/health")->status, 200);
}

INSTANTIATE_TEST_SUITE_P(Catalogue, HttpCatalogue, ::testing::ValuesIn(catalogue()),
                         [](const ::testing::TestParamInfo<BadRequest>& p) { return std::string(p.param.name); });

// Raw bytes on a socket, for requests an HTTP client library will not send; returns the whole answer.
std::string raw_exchange(int port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string answer;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::send(fd, request.data(), request.size(), 0) == static_cast<ssize_t>(request.size())) {
    char buf[4096];
    ssize_t n = 0;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) answer.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return answer;
}

class HttpEdges : public HttpCatalogue {};

TEST_F(HttpEdges, PostWithoutContentLengthIsAnEmptyBody) {
  const std::string a =
      raw_exchange(g_server->port(), "POST /v1/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(a.rfind("HTTP/1.1 400", 0), 0u) << a;
  EXPECT_NE(a.find("the request body is empty"), std::string::npos) << a;
}

TEST_F(HttpEdges, GarbageRequestLineGetsAnAnswer) {
  const std::string a = raw_exchange(g_server->port(), "HELLO\r\n\r\n");
  EXPECT_EQ(a.rfind("HTTP/1.1 400", 0), 0u) << a;
  EXPECT_EQ(g_server->client().Get("/health")->status, 200);
}

TEST_F(HttpEdges, LargeJsonSentAsCurlsDefaultFormTypeIsRead) {
  // curl -d sends application/x-www-form-urlencoded; a body past the HTTP library's 8 KiB form limit is still ours.
  auto c = g_server->client();
  const json body = {{"content", std::string(20000, 'a')}};
  const auto r = c.Post("/tokenize", body.dump(), kForm);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_FALSE(json::parse(r->body)["tokens"].empty());
}

TEST_F(HttpEdges, PreflightAllowsTheHeadersTheBrowserAsksFor) {
  auto c = g_server->client();
  const httplib::Headers h = {{"Origin", "http://localhost:3000"},
                              {"Access-Control-Request-Method", "POST"},
                              {"Access-Control-Request-Headers",
                               "authorization, content-type, x-stainless-os, "
                               "x-stainless-lang, x-stainless-retry-count"}};
  const auto r = c.Options("/v1/chat/completions", h);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 204);
  EXPECT_EQ(r->get_header_value("Access-Control-Allow-Origin"), "http://localhost:3000");
  EXPECT_NE(r->get_header_value("Access-Control-Allow-Headers").find("x-stainless-retry-count"), std::string::npos);
  EXPECT_NE(r->get_header_value("Access-Control-Allow-Methods").find("POST"), std::string::npos);
}

TEST_F(HttpEdges, KeepAliveConnectionServesManyRequests) {
  auto c = g_server->client();
  c.set_keep_alive(true);
  for (int i = 0; i < 12; ++i) {
    const auto r = c.Get("/health");
    ASSERT_TRUE(r) << "request " << i;
    EXPECT_EQ(r->status, 200);
    const std::string ka = r->get_header_value("Keep-Alive");
    const size_t at = ka.find("max=");
    ASSERT_NE(at, std::string::npos) << ka;
    EXPECT_GE(std::stol(ka.substr(at + 4)), 1000) << ka;
  }
}

TEST(HttpServer, LoadingAnswersRetryAfter) {
  TERNION_REQUIRE_FIXTURE(test::server_model_path());
  server::ServerOptions o = test::default_options(1);
  o.port = 0;
  server::Server s(o);
  const int port = s.bind();
  std::thread t([&] { s.serve(); });
  httplib::Client c("127.0.0.1", port);
  const auto r = c.Get("/v1/models");
  s.stop();
  t.join();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->get_header_value("Retry-After"), "1");
}

TEST(HttpServer, SecondServerOnATakenPortFails) {
  TERNION_REQUIRE_FIXTURE(test::server_model_path());
  server::ServerOptions o = test::default_options(1);
  o.port = 0;
  server::Server first(o);
  o.port = first.bind();
  server::Server second(o);
  try {
    second.bind();
    FAIL() << "a second server bound port " << o.port;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("127.0.0.1:" + std::to_string(o.port)), std::string::npos) << e.what();
  }
}

TEST(HttpServer, MissingModelFailsBeforeListening) {
  server::ServerOptions o = test::default_options(1);
  o.models = {"/nonexistent/model.gguf"};
  o.port = 0;
  EXPECT_THROW(server::Server s(o), Error);
}

TEST(HttpCatalogueSize, HoldsTheCases) {
  EXPECT_GE(catalogue().size(), 40u);
  std::set<std::string> names;
  for (const BadRequest& c : catalogue()) EXPECT_TRUE(names.insert(c.name).second) << c.name;
}

}  // namespace
}  // namespace ternion
