#include "salvage/ext2_error.h"

// ext2fs.h first: it includes com_err.h inside extern "C"; com_err.h alone has
// no C++ guard and would declare error_message() with C++ linkage.
#include <ext2fs/ext2fs.h>
#include <et/com_err.h>

#include <mutex>

namespace mr::salvage {

void EnsureExt2ErrorTable() {
  static std::once_flag once;
  std::call_once(once, [] { initialize_ext2_error_table(); });
}

Error Ext2Error(const std::string& what, long code) {
  EnsureExt2ErrorTable();
  Code c = Code::kCorrupt;
  if (code == EXT2_ET_SHORT_READ || code == EXT2_ET_BAD_MAGIC || code == EXT2_ET_CORRUPT_SUPERBLOCK ||
      code == EXT2_ET_SB_CSUM_INVALID)
    c = Code::kCannotOpen;
  else if (code == EXT2_ET_UNSUPP_FEATURE || code == EXT2_ET_RO_UNSUPP_FEATURE)
    c = Code::kUnsupported;
  else if (code > 0 && code < 4096)
    c = Code::kIoError;
  return Error{c, what + ": " + error_message(code)};
}

}  // namespace mr::salvage
