// Where `run` takes its prompt from, as llama.cpp and Ollama users type it: -p TEXT, -f FILE (or -f - for
// standard input), the words after the model, or standard input when it is not a terminal.
#pragma once

#include <string>
#include <vector>

namespace ternion::cli {

struct PromptSources {
  bool has_text = false;  // -p given (possibly empty)
  std::string text;
  std::string file;                // -f; "-" is standard input
  std::vector<std::string> words;  // after the model, joined with spaces
  bool escape = false;             // -e: \n, \t, \\, \xHH ... in the prompt become those bytes
};

// The prompt from the one source given; Error when several are. A file or standard input loses one trailing
// newline, as llama.cpp's -f does.
std::string read_prompt(const PromptSources& s);

// llama.cpp's -e: \n \r \t \a \b \f \v \' \" \? \\ and \xHH become the bytes they name; any other backslash stays.
std::string process_escapes(const std::string& text);

}  // namespace ternion::cli
