// Answering a generation request: the task's deltas go through a ReplyParser (thinking, content, tool calls) and
// an AnswerFormat (one per API: OpenAI and the native /generate, Ollama) turns them into a whole body or stream
// frames. The driver is shared, so every API gets the same holding back of markers and the same counts.
#pragma once

#include <httplib.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ternion/server/openai_schema.h"
#include "ternion/server/reply_parser.h"
#include "ternion/server/task.h"
#include "ternion/tokenizer/tokenizer.h"

namespace ternion::server {

// Everything a reply produced so far (all of it once the task is done).
struct Outcome {
  ReplyPart reply;  // reasoning, content, and the tool calls (at the end)
  std::vector<int32_t> tokens;
  std::vector<TokenLogprob> logprobs;
  void add(ReplyPart part);
};

class AnswerFormat {
 public:
  virtual ~AnswerFormat() = default;
  virtual const char* stream_type() const = 0;  // the stream's content type
  // Frames before any output.
  virtual void begin(std::string& out) { (void)out; }
  // Frames for one step's released output; `delta` carries the step's tokens and log-probabilities (empty for the
  // parser's last part). Nothing when there is nothing to say.
  virtual void step(const ReplyPart& part, const Delta& delta, std::string& out) = 0;
  // Frames after the last output of a successful stream; `so_far` is the whole reply.
  virtual void end(const GenerationTask& task, const Outcome& so_far, std::string& out) = 0;
  // For one choice of several (ChoiceOf): the frames that end the whole stream, after every choice's end().
  virtual void close(const Usage& total, std::string& out) {
    (void)total;
    (void)out;
  }
  // A frame telling a stream's client that generation failed.
  virtual std::string error_frame(const std::string& message) = 0;
  // The whole body of an unstreamed answer.
  virtual nlohmann::json whole(const GenerationTask& task, const Outcome& outcome) = 0;
};

// One choice of a request answered with several (OpenAI's n, a prompt array): its index and the request's ids.
// Its format's end() writes only the choice's last chunk; close() ends the stream (usage of all choices, [DONE]).
struct ChoiceOf {
  int index = 0;
  CompletionIds ids;
};

// OpenAI chat completions and completions, and the native /generate (`tokenizer` is needed only for logprobs).
std::unique_ptr<AnswerFormat> make_openai_format(const ParsedRequest& p, const std::string& model,
                                                 const Tokenizer* tokenizer, const ChoiceOf* choice = nullptr);
// Ollama's /api/chat and /api/generate; `model` is the name the request used (Ollama echoes it).
std::unique_ptr<AnswerFormat> make_ollama_format(const ParsedRequest& p, const std::string& model);

// Ollama's answer to a request without a prompt or messages: the model is loaded (it always is here).
nlohmann::json ollama_load_answer(const ParsedRequest& p);
// Ollama's time stamps: RFC 3339 in UTC with nanoseconds ("2023-08-04T19:22:45.499127000Z").
std::string ollama_time(std::chrono::system_clock::time_point t);

// Waits for the task to end; the whole reply.
Outcome collect_whole(GenerationTask& task, ReplyParser& parser);

// One generated sequence of an answer: its task, the format of its frames and its reply so far.
struct AnswerChoice {
  AnswerChoice(std::shared_ptr<GenerationTask> t, std::unique_ptr<AnswerFormat> f, ReplyOptions options)
      : task(std::move(t)), format(std::move(f)), parser(options) {}
  std::shared_ptr<GenerationTask> task;
  std::unique_ptr<AnswerFormat> format;
  ReplyParser parser;
  Outcome so_far;
  bool done = false;
};

// Writes a stream as the tasks produce output: one choice, or several interleaved as their steps come (each
// frame names its choice). run() returns false (and cancels the tasks) when the client is gone.
class StreamWriter {
 public:
  explicit StreamWriter(std::vector<AnswerChoice> choices, Usage total = {})
      : choices_(std::move(choices)), total_(total) {}
  bool run(httplib::DataSink& sink);
  const char* content_type() const { return choices_.front().format->stream_type(); }
  void cancel();
  // Called once a stream ended well, with the usage of all its choices (the request log).
  std::function<void(const Usage&)> on_end;

 private:
  bool send(httplib::DataSink& sink, std::string& frames);
  bool gone();
  bool client_gone() const;
  // Moves the output that arrived for one choice into frames; waits up to `timeout` for it.
  void pump(AnswerChoice& c, std::chrono::milliseconds timeout, std::string& frames);
  void finish(AnswerChoice& c, std::string& frames);

  std::vector<AnswerChoice> choices_;
  Usage total_;
};

// A tool call's id: the one the model wrote (Mistral), else "call_" and 24 random letters and digits.
std::string tool_call_id(const ToolCall& call);

}  // namespace ternion::server
