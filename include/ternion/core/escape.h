// Untrusted text made safe to quote in a one-line message (errors, logs, JSON error bodies).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace ternion {

// `s` with control characters, bytes that are not valid UTF-8, C1 controls and U+2028/9 written as escapes
// (\n, \r, \t, \xNN) and, when `quotes`, backslashes and double quotes escaped too; cut after `max_bytes` input
// bytes (never inside a character) with "..." appended.
std::string escape_text(std::string_view s, size_t max_bytes = 64, bool quotes = true);

}  // namespace ternion
