#include "ternion/agent/code_blocks.h"

#include <algorithm>
#include <array>
#include <cctype>

namespace ternion::agent {

namespace {

// clang-format off
constexpr std::array<Language, 8> kLanguages = {{
    {"c", "c h", "main.c", "gcc -std=gnu17 -O1 -o prog main.c -lm", "./prog", "gcc"},
    {"c++", "c++ cpp cxx cc hpp", "main.cpp", "g++ -std=gnu++20 -O1 -o prog main.cpp", "./prog", "g++"},
    {"rust", "rust rs", "main.rs", "rustc -O -o prog main.rs", "./prog", "rustc"},
    {"python", "python py python3", "main.py", "", "python3 main.py", "python3"},
    {"sh", "sh shell", "main.sh", "", "sh main.sh", "dash"},
    {"bash", "bash", "main.sh", "", "bash main.sh", "bash"},
    {"javascript", "javascript js node nodejs", "main.js", "", "node main.js", "nodejs"},
    {"go", "go golang", "main.go", "go build -o prog main.go", "./prog", "golang-go"},
}};
// clang-format on

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

bool has_word(std::string_view words, std::string_view word) {
  size_t start = 0;
  while (start < words.size()) {
    const size_t end = std::min(words.find(' ', start), words.size());
    if (words.substr(start, end - start) == word) return true;
    start = end + 1;
  }
  return false;
}

// A fence line: up to three spaces, then three or more ` or ~; `fence` gets the run, `info` the rest.
bool fence_line(std::string_view line, std::string_view& fence, std::string_view& info) {
  size_t i = 0;
  while (i < line.size() && i < 3 && line[i] == ' ') ++i;
  if (i >= line.size() || (line[i] != '`' && line[i] != '~')) return false;
  const char c = line[i];
  size_t j = i;
  while (j < line.size() && line[j] == c) ++j;
  if (j - i < 3) return false;
  fence = line.substr(i, j - i);
  info = line.substr(j);
  // A backtick fence's info string has no backtick (CommonMark): "```x```" is inline code, not a fence.
  return c != '`' || info.find('`') == std::string_view::npos;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Closes `open` when it is the same character, at least as long, with nothing after it.
bool closes(std::string_view line, std::string_view open) {
  std::string_view fence, info;
  return fence_line(line, fence, info) && fence[0] == open[0] && fence.size() >= open.size() && trim(info).empty();
}

}  // namespace

const Language* find_language(std::string_view tag) {
  const std::string t = lower(tag);
  if (t.empty()) return nullptr;
  for (const Language& l : kLanguages) {
    if (has_word(l.tags, t)) return &l;
  }
  return nullptr;
}

std::string language_names() {
  std::string names;
  for (const Language& l : kLanguages) names += (names.empty() ? "" : ", ") + std::string(l.name);
  return names;
}

std::vector<CodeBlock> extract_code_blocks(std::string_view text) {
  std::vector<CodeBlock> blocks;
  std::vector<std::string_view> lines;
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    start = end + 1;
  }
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string_view fence, info;
    if (!fence_line(lines[i], fence, info)) continue;
    size_t close = i + 1;
    while (close < lines.size() && !closes(lines[close], fence)) ++close;
    if (close == lines.size()) break;  // unclosed: the rest of the text is its code, cut short
    CodeBlock b;
    info = trim(info);
    b.tag = std::string(info.substr(0, info.find_first_of(" \t{")));
    b.language = find_language(b.tag);
    b.line = static_cast<int>(i) + 1;
    for (size_t k = i + 1; k < close; ++k) b.code.append(lines[k]).append("\n");
    blocks.push_back(std::move(b));
    i = close;
  }
  return blocks;
}

std::vector<CodeBlock> runnable_blocks(std::string_view text) {
  std::vector<CodeBlock> out;
  for (CodeBlock& b : extract_code_blocks(text)) {
    if (b.language != nullptr) out.push_back(std::move(b));
  }
  return out;
}

}  // namespace ternion::agent
