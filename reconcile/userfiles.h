// Per-user files in the config directory: subscriptions and seen state.
//
// Cyrus 3.6 keeps them under the config directory, next to the layout of
// the user's INBOX:
//   uuid:   user/uuid/<id[0]>/<id[1]>/<INBOX uniqueid>/{seen.db,sub.db}
//   legacy: [domain/<dh>/<domain>/]user/<h>/<local>.{seen,sub}  (<h> = hash letter of
//           the local part, which is named as the user logs in: fred.smith)
// CopyUserFiles carries each file from the salvaged config directory when it
// is there (it is newer), else from the backup's, into the output config
// directory under the output INBOX's uniqueid; each file is written to a temp
// name and renamed. Conversations and other derived databases are not
// carried (Cyrus rebuilds them). Thread-safe for distinct users.
#pragma once

#include <sys/types.h>

#include <string>

#include "common/status.h"

namespace mr::reconcile {

struct UserFilesRequest {
  std::string user;
  std::string s_conf, b_conf, out_conf;
  std::string s_inbox_uniqueid, b_inbox_uniqueid, out_inbox_uniqueid;
  bool out_legacy = false;  // output INBOX uses the legacy layout
  bool s_readable = true;   // the salvaged side has this user at all
  bool set_owner = false;
  uid_t owner = 0;
  gid_t group = 0;
};

Status CopyUserFiles(const UserFilesRequest& req);

}  // namespace mr::reconcile
