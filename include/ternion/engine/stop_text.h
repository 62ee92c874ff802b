// Stop strings over streamed text: text that might be the start of a stop string is held back until it is
// known not to be, so a stop string is never emitted, not even split across chunks.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ternion {

class StopTextFilter {
 public:
  explicit StopTextFilter(std::vector<std::string> stops);

  // Adds generated text; returns what can be emitted now. Once a stop string appears, stopped() is true and
  // the text from that stop string on is dropped.
  std::string push(std::string_view text);
  // At the end of generation: the text still held back.
  std::string flush();
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
};

}  // namespace ternion
