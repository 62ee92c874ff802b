#include "ternion/core/param_rules.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <thread>

namespace ternion {

std::string format_number(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  const auto f = static_cast<float>(v);
  const auto r =
      static_cast<double>(f) == v ? std::to_chars(buf, buf + sizeof buf, f) : std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

std::string param_name(const ParamRule& rule, ParamSurface surface) {
  if (surface == ParamSurface::kRequest && !rule.field.empty()) return std::string(rule.field);
  return std::string(rule.flag.empty() ? rule.field : rule.flag);
}

namespace {

std::string range_text(const ParamRule& r) {
  const bool low = std::isfinite(r.min);
  const bool high = std::isfinite(r.max);
  if (low && high && r.min == r.max) return "be " + format_number(r.min);
  if (low && high) {
    return std::string("be in ") + (r.min_open ? "(" : "[") + format_number(r.min) + ", " + format_number(r.max) +
           (r.max_open ? ")" : "]");
  }
  if (low) return std::string(r.min_open ? "be greater than " : "be at least ") + format_number(r.min);
  if (high) return std::string(r.max_open ? "be less than " : "be at most ") + format_number(r.max);
  return "be a finite number";
}

}  // namespace

void check_param(const ParamRule& r, double v, ParamSurface surface) {
  const bool ok = std::isfinite(v) && (r.min_open ? v > r.min : v >= r.min) && (r.max_open ? v < r.max : v <= r.max) &&
                  (!r.integer || std::floor(v) == v);
  if (ok) return;
  std::string must = range_text(r);
  if (r.integer && std::isfinite(v) && std::floor(v) != v) must = "be an integer";
  throw ParamError(param_name(r, surface) + " must " + must + ", got " + format_number(v), std::string(r.field));
}

ParamRule threads_rule() {
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  ParamRule r{"-t/--threads", "", 0.0, 16.0, false, false, true};
  r.max = std::max(16.0, 4.0 * hw);
  return r;
}

int check_threads(int n, ParamSurface surface) {
  try {
    check_param(threads_rule(), n, surface);
  } catch (const ParamError& e) {
    throw ParamError(std::string(e.what()) + " (0: all cores; more than 4 per hardware thread cannot help)", e.field());
  }
  return n;
}

}  // namespace ternion
