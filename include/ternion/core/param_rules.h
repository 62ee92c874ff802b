// One rule per user-facing parameter, shared by the command line and the HTTP API: the same range, the same
// message, each surface's own name for it (`--top-p` on the command line, `top_p` in a request), numbers printed
// as written. A new parameter gets a rule here, never a range check of its own.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "ternion/core/error.h"

namespace ternion {

enum class ParamSurface { kCommandLine, kRequest };

struct ParamRule {
  std::string_view flag;   // on the command line, as its help shows it ("-t/--threads")
  std::string_view field;  // in a request body ("top_p"); empty: not an API field
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  bool min_open = false;  // (min, …: the bound itself is refused
  bool max_open = false;
  bool integer = false;
};

// A parameter outside its rule: the message names it as the surface does; `field` is the request field.
class ParamError : public Error {
 public:
  ParamError(const std::string& message, std::string field) : Error(message), field_(std::move(field)) {}
  const std::string& field() const { return field_; }

 private:
  std::string field_;
};

namespace params {
constexpr double kInf = std::numeric_limits<double>::infinity();
inline constexpr ParamRule kTemperature{"--temp", "temperature", 0.0, kInf};
inline constexpr ParamRule kTopK{"--top-k", "top_k", 0.0, 2147483647.0, false, false, true};
inline constexpr ParamRule kTopP{"--top-p", "top_p", 0.0, 1.0, true, false};
inline constexpr ParamRule kMinP{"--min-p", "min_p", 0.0, 1.0};
inline constexpr ParamRule kRepeatPenalty{"--repeat-penalty", "repeat_penalty", 0.0, 100.0, true, false};
inline constexpr ParamRule kRepeatLastN{"--repeat-last-n", "repeat_last_n", -1.0, 1048576.0, false, false, true};
inline constexpr ParamRule kPresencePenalty{"--presence-penalty", "presence_penalty", -2.0, 2.0};
inline constexpr ParamRule kFrequencyPenalty{"--frequency-penalty", "frequency_penalty", -2.0, 2.0};
// -1: a random seed (printed by `run --json`, returned by the server).
inline constexpr ParamRule kSeed{"-s/--seed", "seed", -1.0, 9223372036854775807.0, false, false, true};
inline constexpr ParamRule kMaxTokens{"-n/--tokens", "max_tokens", 1.0, 16777216.0, false, false, true};
// 0: the model's context length, at most 4096.
inline constexpr ParamRule kCtxSize{"-c/--ctx-size", "", 0.0, 1048576.0, false, false, true};
inline constexpr ParamRule kBatchSize{"-b/--batch-size", "", 1.0, 65536.0, false, false, true};
inline constexpr ParamRule kParallel{"-P/--parallel", "", 1.0, 256.0, false, false, true};
inline constexpr ParamRule kMaxQueue{"--max-queue", "", 1.0, 4096.0, false, false, true};
inline constexpr ParamRule kPort{"--port", "", 0.0, 65535.0, false, false, true};
// Choices per request (OpenAI's n); each is a sequence of its own, so the bound keeps one request's work bounded.
inline constexpr ParamRule kN{"", "n", 1.0, 128.0, false, false, true};
}  // namespace params

// The shortest text that reads back as `v` (as a float when it is one): 0.95, 2, 1e-05.
std::string format_number(double v);
// "-t/--threads" or "top_p".
std::string param_name(const ParamRule& rule, ParamSurface surface);
// Throws ParamError ("--top-p must be in (0, 1], got 2") when `v` is outside the rule (or not an integer for an
// integer rule, or not finite).
void check_param(const ParamRule& rule, double v, ParamSurface surface);

// -t/--threads: 0 picks the default (all cores); more than 4 threads per hardware thread cannot help (they only
// wait for each other), so the rule's top is 4 × std::thread::hardware_concurrency(), at least 16.
ParamRule threads_rule();
int check_threads(int n, ParamSurface surface);  // returns n

}  // namespace ternion
