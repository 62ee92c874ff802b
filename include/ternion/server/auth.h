// API-key checks: "Authorization: Bearer KEY" compared in constant time.
#pragma once

#include <string_view>

namespace ternion::server {

// Equal strings; the time taken depends only on the lengths, not on where they differ.
bool constant_time_equal(std::string_view a, std::string_view b);

// True when `authorization` (the header's value) is "Bearer <key>".
bool bearer_matches(std::string_view authorization, std::string_view key);

}  // namespace ternion::server
