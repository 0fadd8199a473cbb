#!/usr/bin/env bash
# Installs every Debian package mailrescue needs to build, test and benchmark.
# Idempotent: quiet when all is there. Run as root on Debian 12 (bookworm).
set -euo pipefail
pkgs=(
  build-essential cmake pkg-config git
  e2fsprogs libext2fs-dev comerr-dev
  libtbb-dev libboost-filesystem-dev libcli11-dev
  googletest libgtest-dev libgmock-dev
  libsqlite3-dev libssl-dev nlohmann-json3-dev zlib1g-dev
  cyrus-imapd cyrus-admin cyrus-common
  python3 sleuthkit rsync
  chromium eatmydata
  clang libclang-rt-14-dev util-linux
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Cyrus' maintainer scripts must not start a system daemon on a rescue/test box.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
