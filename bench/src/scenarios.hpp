#pragma once
#include "options.hpp"

namespace wshub::bench {

// Runs the scenario of `o` in three bounded phases (connect the sockets; publish or hold; drain),
// prints its report and returns the exit code: 0 for a clean run, 1 when anything was lost,
// reordered, refused or failed, or a bound was hit.
int run_scenario(const options& o);

}  // namespace wshub::bench
