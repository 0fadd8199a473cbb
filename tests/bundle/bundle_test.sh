#!/usr/bin/env bash
# Builds the bundle, copies it to a fresh directory and runs it from there.
set -euo pipefail
BUILD=$1
SRC=$2
cmake --build "$BUILD" --target bundle >/dev/null
dest=$(mktemp -d /tmp/mr_bundle.XXXXXX)
trap 'rm -rf "$dest"' EXIT
tar -C "$dest" -xzf "$BUILD/bundle/mailrescue.tar.gz"
cd "$dest"
out=$(env -i PATH=/usr/bin:/bin LD_LIBRARY_PATH= ./mailrescue/bin/mailrescue --version)
echo "$out"
[[ "$out" == mailrescue* ]] || { echo "bundled binary did not run"; exit 1; }
# Every non-libc library the binary uses must resolve inside the bundle.
bad=$(env -i LD_LIBRARY_PATH= ldd ./mailrescue/bin/mailrescue | awk '/=> \//{print $1, $3}' |
      grep -vE '^(libc|libm|ld-linux|libpthread|libdl|librt)[.-]' |
      while read -r name path; do
        real=$(readlink -f "$path")
        case "$real" in "$dest"/mailrescue/lib/*) ;; *) echo "$name $real" ;; esac
      done)
if [ -n "$bad" ]; then echo "libraries resolved outside the bundle:"; echo "$bad"; exit 1; fi
for lib in libext2fs libtbb libcrypto libsqlite3; do
  ls ./mailrescue/lib | grep -q "^$lib" || { echo "bundle lacks $lib"; exit 1; }
done
[ -f ./mailrescue/docs/README.md ] || { echo "bundle lacks docs"; exit 1; }
echo "bundle ok"
