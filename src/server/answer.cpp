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

bool StreamWriter::gone() {
  task_->cancel();
  return false;
}

bool StreamWriter::run(httplib::DataSink& sink) {
  std::string frames;
  format_->begin(frames);
  if (!send(sink, frames)) return gone();
  std::vector<Delta> deltas;
  bool done = false;
  while (!done) {
    done = task_->wait(deltas, kPoll);
    for (const Delta& d : deltas) {
      ReplyPart part = parser_.feed(d.text);
      so_far_.tokens.insert(so_far_.tokens.end(), d.tokens.begin(), d.tokens.end());
      format_->step(part, d, frames);
      so_far_.add(std::move(part));
      if (!send(sink, frames)) return gone();
    }
    deltas.clear();
    if (!done && task_->client_gone && task_->client_gone()) return gone();
  }
  if (task_->finish_reason() == "cancelled") return gone();
  if (!task_->error().empty()) {
    frames = format_->error_frame("generation failed: " + task_->error());
  } else {
    ReplyPart last = parser_.finish();
    format_->step(last, Delta{}, frames);
    so_far_.add(std::move(last));
    format_->end(*task_, so_far_, frames);
  }
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
