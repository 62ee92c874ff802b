#include "ternion/server/reply_parser.h"

#include <algorithm>
#include <utility>

namespace ternion::server {

namespace {

constexpr std::string_view kThinkOpen = "<think>";
constexpr std::string_view kThinkClose = "</think>";

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view ltrim(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && is_space(s[i])) ++i;
  return s.substr(i);
}

// The length of the longest end of `text` that is a proper start of `tag` (text that may become the tag).
size_t partial_tag(std::string_view text, std::string_view tag) {
  for (size_t n = std::min(tag.size() - 1, text.size()); n > 0; --n) {
    if (text.substr(text.size() - n) == tag.substr(0, n)) return n;
  }
  return 0;
}

}  // namespace

ReplyParser::ReplyParser(ReplyOptions options)
    : options_(options),
      phase_(!options.reasoning        ? Phase::kAnswer
             : options.starts_thinking ? Phase::kThinking
                                       : Phase::kStart) {}

void ReplyParser::answer(std::string_view text, ReplyPart& out) {
  if (strip_space_) {
    text = ltrim(text);
    if (text.empty()) return;
    strip_space_ = false;
  }
  answer_.append(text);
  const size_t end = options_.tool_format == ToolCallFormat::kNone
                         ? answer_.size()
                         : tool_call_content_end(answer_, options_.tool_format);
  if (end > released_) {
    out.content.append(answer_, released_, end - released_);
    released_ = end;
  }
}

void ReplyParser::think(ReplyPart& out) {
  if (phase_ == Phase::kStart) {
    const std::string_view t = ltrim(pending_);
    if (t.substr(0, kThinkOpen.size()) == kThinkOpen) {
      pending_ = std::string(t.substr(kThinkOpen.size()));
      phase_ = Phase::kThinking;
    } else if (kThinkOpen.substr(0, t.size()) == t) {
      return;  // may still become <think>
    } else {
      phase_ = Phase::kAnswer;
      answer(std::exchange(pending_, {}), out);
      return;
    }
  }
  const size_t close = pending_.find(kThinkClose);
  if (close == std::string::npos) {
    const size_t keep = partial_tag(pending_, kThinkClose);
    out.reasoning.append(pending_, 0, pending_.size() - keep);
    pending_.erase(0, pending_.size() - keep);
    return;
  }
  out.reasoning.append(pending_, 0, close);
  const std::string rest = pending_.substr(close + kThinkClose.size());
  pending_.clear();
  phase_ = Phase::kAnswer;
  strip_space_ = true;
  answer(rest, out);
}

ReplyPart ReplyParser::feed(std::string_view text) {
  ReplyPart out;
  if (phase_ == Phase::kAnswer) {
    answer(text, out);
  } else {
    pending_.append(text);
    think(out);
  }
  return out;
}

ReplyPart ReplyParser::finish() {
  ReplyPart out;
  if (phase_ == Phase::kStart) {
    phase_ = Phase::kAnswer;
    answer(std::exchange(pending_, {}), out);
  } else if (phase_ == Phase::kThinking) {
    out.reasoning.append(std::exchange(pending_, {}));  // thinking cut short is still thinking
  }
  const std::string_view held = std::string_view(answer_).substr(released_);
  released_ = answer_.size();
  if (held.empty()) return out;
  ParsedReply parsed = parse_tool_calls(held, options_.tool_format);
  tool_error_ = parsed.error;
  out.content.append(parsed.content);
  out.calls = std::move(parsed.calls);
  return out;
}

}  // namespace ternion::server
