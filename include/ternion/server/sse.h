// Server-Sent Events framing of stream responses.
#pragma once

#include <string>

namespace ternion::server {

// "data: <payload>\n\n"; the payload must hold no newline (compact JSON never does).
std::string sse_event(const std::string& payload);
// The end-of-stream marker "data: [DONE]\n\n".
const std::string& sse_done();

}  // namespace ternion::server
