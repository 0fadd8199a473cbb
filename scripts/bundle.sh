#!/usr/bin/env bash
# Builds the rescue-boot bundle: OUT/mailrescue/{bin,lib,docs} + OUT/mailrescue.tar.gz.
# The binary finds its libraries through RPATH $ORIGIN/../lib, so the directory runs from
# a USB stick on a machine without the Debian packages (same architecture, glibc >= ours).
set -euo pipefail
OUT=${1:?usage: bundle.sh OUTDIR}
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD_DIR:-$SRC/build}
root="$OUT/mailrescue"
rm -rf "$root"
mkdir -p "$root/bin" "$root/lib" "$root/docs"
cmake --install "$BUILD" --prefix "$root" --component Unspecified --strip >/dev/null
# Every shared library except the C runtime itself (libc, libm, ld.so, libpthread, libdl, librt),
# which a rescue system always has and which must match its kernel interface.
ldd "$root/bin/mailrescue" | awk '/=> \//{print $3}' | while read -r lib; do
  case "$(basename "$lib")" in
    libc.so.*|libm.so.*|ld-linux*|libpthread.so.*|libdl.so.*|librt.so.*) continue ;;
  esac
  cp -L "$lib" "$root/lib/"
done
cp "$SRC"/README.md "$root/docs/"
cp "$SRC"/docs/*.md "$root/docs/" 2>/dev/null || true
tar -C "$OUT" -czf "$OUT/mailrescue.tar.gz" mailrescue
echo "bundle: $root ($(ls "$root/lib" | wc -l) libraries) and $OUT/mailrescue.tar.gz"
