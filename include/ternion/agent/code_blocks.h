// The fenced code blocks of a reply (Markdown ``` or ~~~ fences with a language tag), and the languages we run.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ternion::agent {

// A language we compile and run: its file, its commands (words split on spaces, run in the scratch folder) and
// the Debian package that has its toolchain.
struct Language {
  const char* name;     // "c", "c++", "rust", "python", "sh", "bash", "javascript", "go"
  const char* tags;     // the fence tags that mean it, space-separated
  const char* file;     // the source file's name in the scratch folder
  const char* compile;  // "" when it is run from source
  const char* run;
  const char* package;  // Debian package of the program that compiles it (or runs it)
};

// The language a fence tag names (case-insensitive; "c++", "cpp", "py", "js", ...), or nullptr.
const Language* find_language(std::string_view tag);
// "c, c++, rust, python, sh, bash, javascript, go"
std::string language_names();

struct CodeBlock {
  std::string tag;                     // the fence's first word, as written
  const Language* language = nullptr;  // nullptr: not a language we run
  std::string code;
  int line = 0;  // 1-based line of the opening fence
};

// Every closed fenced block of `text`, in order (an unclosed one, as a reply cut short ends, is left out).
std::vector<CodeBlock> extract_code_blocks(std::string_view text);
// The blocks of a language we run.
std::vector<CodeBlock> runnable_blocks(std::string_view text);

}  // namespace ternion::agent
