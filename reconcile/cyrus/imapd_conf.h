// imapd.conf: the few settings that locate a Cyrus store.
//
// Contract: ReadImapdConf reads `key: value` lines (# comments, blank lines),
// and returns configdirectory, every partition-<name>, defaultpartition's
// root as partition_default, the layout switches and the mailboxes.db backend
// and path. Error when the file
// cannot be read or names no configdirectory. Unknown keys are ignored.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace mr::cyrus {

struct CyrusConfig {
  std::string configdirectory;
  std::string partition_default;  // root path of the default partition
  std::string defaultpartition = "default";  // its name
  std::map<std::string, std::string> partitions;  // name -> root path
  bool legacy_dirs = false;   // mailbox_legacy_dirs
  bool hashimapspool = false;
  bool fulldirhash = false;
  bool virtdomains = false;
  // mboxlist_db (backend name, lower case; Cyrus 3.6's default is twoskip) and
  // mboxlist_db_path (empty: <configdirectory>/mailboxes.db).
  std::string mboxlist_db = "twoskip";
  std::string mboxlist_db_path;

  // Where this store's mailboxes.db lives.
  std::string MailboxesDbPath() const {
    return mboxlist_db_path.empty() ? configdirectory + "/mailboxes.db" : mboxlist_db_path;
  }
};

Result<CyrusConfig> ParseImapdConf(std::string_view text);
Result<CyrusConfig> ReadImapdConf(const std::string& path);

}  // namespace mr::cyrus
