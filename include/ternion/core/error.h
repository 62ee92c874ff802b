// The one exception type that crosses the library's boundaries. Every message is one line that names
// what was being read (file, field, flag) and what was expected, so a user can act on it.
#pragma once

#include <stdexcept>
#include <string>

namespace ternion {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace ternion
