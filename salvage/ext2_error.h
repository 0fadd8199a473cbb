// Maps libext2fs errcode_t values to mr::Error with com_err's message text.
// Call EnsureExt2ErrorTable() before any error_message(); it is idempotent and
// thread-safe.
#pragma once

#include <string>

#include "common/status.h"

namespace mr::salvage {

void EnsureExt2ErrorTable();
// "<what>: <error_message(code)>" with a Code chosen from the errcode.
Error Ext2Error(const std::string& what, long code);

}  // namespace mr::salvage
