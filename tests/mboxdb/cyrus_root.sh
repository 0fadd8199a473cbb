#!/bin/sh
# Creates a private Cyrus 3.6 root for tests: ROOT/imapd.conf, ROOT/conf, ROOT/spool.
# Usage: cyrus_root.sh ROOT ["option: value" ...]   (extra imapd.conf lines)
# Cyrus tools switch to user "cyrus" when run as root, so the tree is chowned to it.
set -eu
R="$1"
shift
rm -rf "$R"
mkdir -p "$R/conf/lock" "$R/conf/proc" "$R/conf/socket" "$R/spool" "$R/log"
cat > "$R/imapd.conf" <<CONF
configdirectory: $R/conf
defaultpartition: default
partition-default: $R/spool
mboxname_lockpath: $R/conf/lock
proc_path: $R/conf/proc
lmtpsocket: $R/conf/socket/lmtp
idlesocket: $R/conf/socket/idle
notifysocket: $R/conf/socket/notify
unixhierarchysep: no
altnamespace: no
hashimapspool: true
virtdomains: userid
admins: cyrus
syslog_prefix: mr-test
CONF
for line in "$@"; do echo "$line" >> "$R/imapd.conf"; done
if [ "$(id -u)" = 0 ]; then chown -R cyrus:mail "$R"; fi
