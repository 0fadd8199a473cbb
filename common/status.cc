#include "common/status.h"

#include <cstring>

namespace mr {

const char* CodeName(Code c) {
  switch (c) {
    case Code::kOk: return "ok";
    case Code::kInvalidArgument: return "invalid_argument";
    case Code::kNotFound: return "not_found";
    case Code::kCorrupt: return "corrupt";
    case Code::kUnsupported: return "unsupported";
    case Code::kIoError: return "io_error";
    case Code::kExists: return "exists";
    case Code::kCannotOpen: return "cannot_open";
    case Code::kInternal: return "internal";
  }
  return "unknown";
}

Error ErrnoError(const std::string& what, int err) {
  Code c = Code::kIoError;
  if (err == ENOENT || err == ENOTDIR) c = Code::kNotFound;
  if (err == EEXIST) c = Code::kExists;
  return Error{c, what + ": " + std::strerror(err)};
}

}  // namespace mr
