// The one exception type that crosses the library's boundaries. Every message is one line that names
// what was being read (file, field, flag) and what was expected, so a user can act on it.
#pragma once

#include <stdexcept>
#include <string>

namespace ternion {

// `message` as one printable line: control characters (newlines too) and bytes that are not UTF-8 escaped, at
// most a few KiB. Error applies it, so untrusted text quoted in a message can never break a log line, a
// terminal or a JSON error body.
std::string one_line_message(const std::string& message);

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(one_line_message(message)) {}
};

}  // namespace ternion
