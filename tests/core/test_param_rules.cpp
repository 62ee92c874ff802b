// One rule per parameter: ranges, the names each surface uses, numbers as written; and Error's one-line messages.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "ternion/core/error.h"
#include "ternion/core/escape.h"
#include "ternion/core/param_rules.h"

namespace ternion {
namespace {

std::string message_of(const ParamRule& r, double v, ParamSurface s) {
  try {
    check_param(r, v, s);
  } catch (const ParamError& e) {
    return e.what();
  }
  return "";
}

TEST(ParamRules, SameRuleBothSurfacesTheirOwnNames) {
  EXPECT_EQ(message_of(params::kTopP, 2.0, ParamSurface::kCommandLine), "--top-p must be in (0, 1], got 2");
  EXPECT_EQ(message_of(params::kTopP, 2.0, ParamSurface::kRequest), "top_p must be in (0, 1], got 2");
  EXPECT_EQ(message_of(params::kTopP, 0.0, ParamSurface::kRequest), "top_p must be in (0, 1], got 0");
  EXPECT_EQ(message_of(params::kTopP, 1.0, ParamSurface::kRequest), "");
  EXPECT_EQ(message_of(params::kTemperature, -1.0, ParamSurface::kCommandLine), "--temp must be at least 0, got -1");
  EXPECT_EQ(message_of(params::kTemperature, 0.0, ParamSurface::kCommandLine), "");
  EXPECT_EQ(message_of(params::kTopK, -1.0, ParamSurface::kRequest), "top_k must be in [0, 2147483647], got -1");
  EXPECT_EQ(message_of(params::kTopK, 1.5, ParamSurface::kRequest), "top_k must be an integer, got 1.5");
  EXPECT_EQ(message_of(params::kRepeatPenalty, 0.0, ParamSurface::kRequest),
            "repeat_penalty must be in (0, 100], got 0");
  EXPECT_EQ(message_of(params::kN, 129.0, ParamSurface::kRequest), "n must be in [1, 128], got 129");
  EXPECT_EQ(message_of(params::kN, 2.0, ParamSurface::kRequest), "");
  // A rule without an API field is named by its flag on both surfaces.
  EXPECT_EQ(message_of(params::kCtxSize, -1.0, ParamSurface::kRequest),
            "-c/--ctx-size must be in [0, 1048576], got -1");
  EXPECT_NE(message_of(params::kMinP, std::nan(""), ParamSurface::kRequest), "");
}

TEST(ParamRules, ErrorCarriesTheField) {
  try {
    check_param(params::kMinP, 3.0, ParamSurface::kRequest);
    FAIL();
  } catch (const ParamError& e) {
    EXPECT_EQ(e.field(), "min_p");
  }
}

TEST(ParamRules, NumbersPrintAsWritten) {
  EXPECT_EQ(format_number(5.0), "5");
  EXPECT_EQ(format_number(static_cast<float>(0.95)), "0.95");
  EXPECT_EQ(format_number(0.95), "0.95");
  EXPECT_EQ(format_number(1e-5), "1e-05");
  EXPECT_EQ(format_number(-2.5), "-2.5");
  EXPECT_EQ(format_number(99999999999.0), "99999999999");
  EXPECT_EQ(format_number(std::numeric_limits<double>::infinity()), "inf");
}

TEST(ParamRules, ThreadsAboveFourPerHardwareThreadAreRefused) {
  const ParamRule r = threads_rule();
  EXPECT_GE(r.max, 16.0);
  EXPECT_EQ(check_threads(0, ParamSurface::kCommandLine), 0);
  EXPECT_EQ(check_threads(static_cast<int>(r.max), ParamSurface::kCommandLine), static_cast<int>(r.max));
  EXPECT_THROW(check_threads(static_cast<int>(r.max) + 1, ParamSurface::kCommandLine), ParamError);
  EXPECT_THROW(check_threads(-1, ParamSurface::kCommandLine), ParamError);
  try {
    check_threads(4096, ParamSurface::kCommandLine);
  } catch (const ParamError& e) {
    EXPECT_NE(std::string(e.what()).find("-t/--threads must be in [0, "), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("got 4096"), std::string::npos) << e.what();
  }
}

TEST(OneLineMessages, ErrorEscapesWhatWouldBreakALine) {
  EXPECT_STREQ(Error("plain message").what(), "plain message");
  EXPECT_STREQ(Error("regex '(a\nb' failed").what(), "regex '(a\\nb' failed");
  EXPECT_STREQ(Error(std::string("nul\0x\r\t\x1b", 8)).what(), "nul\\x00x\\r\\t\\x1b");
  EXPECT_STREQ(Error("bad \xff utf8, good caf\xc3\xa9").what(), "bad \\xff utf8, good caf\xc3\xa9");
  EXPECT_STREQ(Error("quotes \" and \\ stay").what(), "quotes \" and \\ stay");
  const std::string huge(100000, 'a');
  EXPECT_LT(std::string(Error(huge).what()).size(), 5000u);
  EXPECT_EQ(escape_text("a\"b", 64, true), "a\\\"b");
  EXPECT_EQ(escape_text("abcdef", 3), "abc...");
  EXPECT_EQ(escape_text("\xe6\x97\xa5\xe6\x9c\xac", 4), "\xe6\x97\xa5...");  // never half a character
}

}  // namespace
}  // namespace ternion
