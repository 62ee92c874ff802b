// The driver shared by every API: deltas through the reply parser into the API's format.
#include "answer.h"

#include <chrono>
#include <random>

namespace ternion::server {

namespace {

constexpr std::chrono::milliseconds kPoll{100};

}  // namespace

void Outcome::add(ReplyPart part) {
  reply.reasoning += part.reasoning;
  reply.content += part.content;
  for (ToolCall& c : part.calls) reply.calls.push_back(std::move(c));
}

Outcome collect_whole(GenerationTask& task, ReplyParser& parser) {
  Outcome o;
  std::vector<Delta> deltas;
  bool done = false;
  while (!done) {
    done = task.wait(deltas, kPoll);
    for (Delta& d : deltas) {
      o.add(parser.feed(d.text));
      o.tokens.insert(o.tokens.end(), d.tokens.begin(), d.tokens.end());
      for (TokenLogprob& lp : d.logprobs) o.logprobs.push_back(std::move(lp));
    }
    deltas.clear();
  }
  o.add(parser.finish());
  return o;
}

bool StreamWriter::send(httplib::DataSink& sink, std::string& frames) {
  if (frames.empty()) return true;
  const bool ok = sink.write(frames.data(), frames.size());
  frames.clear();
  return ok;
}

void StreamWriter::cancel() {
  for (AnswerChoice& c : choices_) c.task->cancel();
}

bool StreamWriter::gone() {
  cancel();
  return false;
}

bool StreamWriter::client_gone() const {
  const GenerationTask& t = *choices_.front().task;
  return t.client_gone && t.client_gone();
}

void StreamWriter::pump(AnswerChoice& c, std::chrono::milliseconds timeout, std::string& frames) {
  std::vector<Delta> deltas;
  c.done = c.task->wait(deltas, timeout);
  for (const Delta& d : deltas) {
    ReplyPart part = c.parser.feed(d.text);
    c.so_far.tokens.insert(c.so_far.tokens.end(), d.tokens.begin(), d.tokens.end());
    c.format->step(part, d, frames);
    c.so_far.add(std::move(part));
  }
}

void StreamWriter::finish(AnswerChoice& c, std::string& frames) {
  ReplyPart last = c.parser.finish();
  c.format->step(last, Delta{}, frames);
  c.so_far.add(std::move(last));
  c.format->end(*c.task, c.so_far, frames);
}

bool StreamWriter::run(httplib::DataSink& sink) {
  std::string frames;
  for (AnswerChoice& c : choices_) c.format->begin(frames);
  if (!send(sink, frames)) return gone();
  // Choices run in the same batch, so their steps come together: the writer waits on the first unfinished one
  // and takes what the others have; a short wait when there are several keeps none of them behind.
  const std::chrono::milliseconds wait = choices_.size() > 1 ? std::chrono::milliseconds(10) : kPoll;
  for (;;) {
    bool waited = false, all_done = true;
    for (AnswerChoice& c : choices_) {
      if (c.done) continue;
      pump(c, waited ? std::chrono::milliseconds(0) : wait, frames);
      waited = true;
      if (!send(sink, frames)) return gone();
      if (c.done && (c.task->finish_reason() == "cancelled")) return gone();
      if (c.done && !c.task->error().empty()) {
        frames = c.format->error_frame("generation failed: " + c.task->error());
        cancel();
        if (send(sink, frames)) sink.done();
        return true;
      }
      if (c.done) finish(c, frames);
      all_done = all_done && c.done;
    }
    if (all_done) break;
    if (client_gone()) return gone();
  }
  for (const AnswerChoice& c : choices_) total_.completion_tokens += static_cast<int64_t>(c.so_far.tokens.size());
  if (choices_.size() > 1) choices_.front().format->close(total_, frames);
  if (on_end) on_end(total_);
  if (!send(sink, frames)) return gone();
  sink.done();
  return true;
}

std::string tool_call_id(const ToolCall& call) {
  if (!call.id.empty()) return call.id;
  static constexpr char kChars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string id = "call_";
  for (int i = 0; i < 24; ++i) id += kChars[rng() % (sizeof kChars - 1)];
  return id;
}

}  // namespace ternion::server
