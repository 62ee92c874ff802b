#include "ternion/server/auth.h"

#include <cstddef>

namespace ternion::server {

bool constant_time_equal(std::string_view a, std::string_view b) {
  // Every byte of the longer string is visited, whatever the contents.
  const size_t n = a.size() > b.size() ? a.size() : b.size();
  unsigned diff = a.size() == b.size() ? 0u : 1u;
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned>(x ^ y);
  }
  return diff == 0;
}

bool bearer_matches(std::string_view authorization, std::string_view key) {
  constexpr std::string_view kPrefix = "Bearer ";
  if (authorization.size() < kPrefix.size()) return false;
  for (size_t i = 0; i < kPrefix.size(); ++i) {
    const char c = authorization[i];
    const char lower = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    const char want = kPrefix[i] >= 'A' && kPrefix[i] <= 'Z' ? static_cast<char>(kPrefix[i] - 'A' + 'a') : kPrefix[i];
    if (lower != want) return false;
  }
  return constant_time_equal(authorization.substr(kPrefix.size()), key);
}

}  // namespace ternion::server
