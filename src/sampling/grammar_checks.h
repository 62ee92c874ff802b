// Checks of a parsed grammar (internal to the sampling layer).
#pragma once

#include "ternion/sampling/grammar.h"

namespace ternion {

// Throws Error naming a rule that can reach itself without consuming a character (directly, or after rules that
// may match nothing): the matcher expands rules top-down and would never finish.
void check_left_recursion(const Grammar& g);

}  // namespace ternion
