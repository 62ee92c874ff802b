#include "run_prompt.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <iterator>

#include "commands.h"
#include "ternion/core/error.h"

namespace ternion::cli {

namespace {

std::string read_stdin() {
  std::string text{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
  if (std::cin.bad()) throw Error("cannot read the prompt from standard input");
  return text;
}

std::string drop_one_newline(std::string text) {
  if (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string read_prompt(const PromptSources& s) {
  const int given = int{s.has_text} + int{!s.file.empty()} + int{!s.words.empty()};
  if (given > 1) throw Error("give the prompt one way: -p TEXT, -f FILE or the words after the model");
  std::string prompt;
  if (s.has_text) {
    prompt = s.text;
  } else if (!s.file.empty()) {
    prompt = drop_one_newline(s.file == "-" ? read_stdin() : read_text_file(s.file));
  } else if (!s.words.empty()) {
    for (const std::string& w : s.words) prompt += (prompt.empty() ? "" : " ") + w;
  } else if (::isatty(STDIN_FILENO) != 1) {
    prompt = drop_one_newline(read_stdin());
  }
  if (prompt.empty()) {
    throw Error(
        "the prompt is empty; give one with -p TEXT, -f FILE, after the model or on standard input "
        "(-i to chat)");
  }
  return s.escape ? process_escapes(prompt) : prompt;
}

std::string process_escapes(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\' || i + 1 == text.size()) {
      out += text[i];
      continue;
    }
    const char c = text[i + 1];
    const char* const from = "nrtabfv'\"?\\";
    const char* const to = "\n\r\t\a\b\f\v'\"?\\";
    if (const char* at = std::char_traits<char>::find(from, 11, c)) {
      out += to[at - from];
      ++i;
    } else if (c == 'x' && i + 3 < text.size() && hex_digit(text[i + 2]) >= 0 && hex_digit(text[i + 3]) >= 0) {
      out += static_cast<char>(hex_digit(text[i + 2]) * 16 + hex_digit(text[i + 3]));
      i += 3;
    } else {
      out += '\\';
    }
  }
  return out;
}

}  // namespace ternion::cli
