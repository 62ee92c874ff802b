#include "ternion/server/sse.h"

namespace ternion::server {

std::string sse_event(const std::string& payload) { return "data: " + payload + "\n\n"; }

const std::string& sse_done() {
  static const std::string done = "data: [DONE]\n\n";
  return done;
}

}  // namespace ternion::server
