// Process exit codes, as SPEC.md defines them.
#pragma once

namespace mr {
inline constexpr int kExitOk = 0;         // all done and consistent
inline constexpr int kExitAttention = 1;  // done, some items need an operator (listed in report)
inline constexpr int kExitUsage = 2;      // bad usage or bad input
inline constexpr int kExitNoSource = 3;   // the source cannot be opened at all
inline constexpr int kExitInternal = 4;   // internal error (a bug)
}  // namespace mr
