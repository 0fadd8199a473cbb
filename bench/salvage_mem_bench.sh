#!/usr/bin/env bash
# Salvage memory benchmark (not a test): peak RSS of `mailrescue salvage` on
# generated images of several sizes, for one or two binaries, and the slope
# (bytes of peak RSS per file) between the smallest and the largest image.
# Issue #3 asks for a peak RSS < 256 MiB regardless of filesystem size: the
# slope says how far from "regardless" a binary is.
#
# usage: bench/salvage_mem_bench.sh [SIZES] [IMGDIR] [OUTDIR] [JOBS]
#   SIZES   comma-separated file counts (default 100000,200000,400000)
#   IMGDIR  where the images are kept (default /work/bench-salvage); an image
#           img<N/1000>k.img is built with make_salvage_image.py --files N
#           when missing (~10 min and ~11 KiB of disk per 1,000 files), or
#           with HUGEFOLDER set hf<N/1000>k.img: ceil(N/100,000) users with
#           one folder of N/users messages each, written by mr_hugefolder
#           (~35 s and ~5 KiB of disk per 1,000 files)
#   OUTDIR  where the salvaged output goes (default /dev/shm if present; a
#           tmpfs needs ~8 KiB a file: 2M files want a disk)
#   JOBS    --jobs (default 2)
# Env: AFTER (binary; default build/cli/mailrescue next to this script),
#      BEFORE (optional second binary, e.g. main's), RUNS (default 1; the
#      peak of each is printed, the table has the largest),
#      HUGEFOLDER (path to mr_hugefolder: build the images with it).
# The slope is printed for the whole range and for each step between two
# sizes: a flat peak RSS shows as ~0 bytes/file in the last steps.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
sizes=${1:-100000,200000,400000}
imgdir=${2:-/work/bench-salvage}
outdir=${3:-$([ -d /dev/shm ] && echo /dev/shm || echo /tmp)}
jobs=${4:-2}
after=${AFTER:-$here/../build/cli/mailrescue}
runs=${RUNS:-1}
bins=(after)
[ -n "${BEFORE:-}" ] && bins=(before after)
declare -A bin=([after]=$after [before]=${BEFORE:-})
for b in "${bins[@]}"; do [ -x "${bin[$b]}" ] || { echo "salvage_mem_bench: ${bin[$b]} not built" >&2; exit 2; }; done
mkdir -p "$imgdir"
work=$(mktemp -d "$outdir/mr-membench.XXXXXX")
trap 'rm -rf "$work"' EXIT

declare -A rss wall cpu
IFS=, read -r -a ns <<< "$sizes"
image_of() {  # the image for $1 files, built when missing
  local n=$1
  if [ -n "${HUGEFOLDER:-}" ]; then
    local img=$imgdir/hf$((n / 1000))k.img users=$(((n + 99999) / 100000))
    [ -f "$img" ] || "$HUGEFOLDER" image --out "$img" --users "$users" --messages $((n / users)) > /dev/null
    echo "$img"
  else
    local img=$imgdir/img$((n / 1000))k.img
    [ -f "$img" ] || python3 "$here/make_salvage_image.py" "$img" --files "$n" >&2
    echo "$img"
  fi
}
for n in "${ns[@]}"; do
  img=$(image_of "$n")
  for ((r = 0; r < runs; r++)); do
    for b in "${bins[@]}"; do  # alternating
      rm -rf "$work/out"
      sync  # the previous run's writeback must not land in this one (output on a disk)
      rc=0
      /usr/bin/time -f '%e %M %U %S' -o "$work/t" "${bin[$b]}" -q salvage "$img" --out "$work/out" --jobs "$jobs" \
        > /dev/null 2> "$work/err" || rc=$?
      [ $rc -le 1 ] || { echo "$b failed on $img ($rc):" >&2; tail -3 "$work/err" >&2; exit 1; }
      read -r e m u s < <(tail -1 "$work/t")
      c=$(echo "$u + $s" | bc -l)
      printf '%-7s %8d files  %7.2f s  cpu %7.2f s  peak RSS %6.1f MiB\n' "$b" "$n" "$e" "$c" "$(echo "$m / 1024" | bc -l)"
      cpu[$b,$n]="${cpu[$b,$n]:-} $c"
      [ "${rss[$b,$n]:-0}" -ge "$m" ] || rss[$b,$n]=$m
      wall[$b,$n]="${wall[$b,$n]:-} $e"
    done
  done
done
rm -rf "$work/out"

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
echo "--- median wall time (s) by files, $runs run(s) each"
printf '%-7s' ""; for n in "${ns[@]}"; do printf ' %10d' "$n"; done; echo
for b in "${bins[@]}"; do
  printf '%-7s' "$b"
  for n in "${ns[@]}"; do printf ' %10.2f' "$(echo "${wall[$b,$n]}" | median)"; done
  echo
done
echo "--- median cpu time (user+sys, s) by files"
printf '%-7s' ""; for n in "${ns[@]}"; do printf ' %10d' "$n"; done; echo
for b in "${bins[@]}"; do
  printf '%-7s' "$b"
  for n in "${ns[@]}"; do printf ' %10.2f' "$(echo "${cpu[$b,$n]}" | median)"; done
  echo
done
echo "--- peak RSS (MiB) by files; load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
printf '%-7s' ""; for n in "${ns[@]}"; do printf ' %10d' "$n"; done; printf '   bytes/file (%d..%d)\n' "${ns[0]}" "${ns[-1]}"
slope() { echo "(${rss[$1,$3]} - ${rss[$1,$2]}) * 1024 / ($3 - $2)" | bc -l; }
for b in "${bins[@]}"; do
  printf '%-7s' "$b"
  for n in "${ns[@]}"; do printf ' %10.1f' "$(echo "${rss[$b,$n]} / 1024" | bc -l)"; done
  lo=${ns[0]}; hi=${ns[-1]}
  if [ "$hi" -gt "$lo" ]; then printf '   %10.1f\n' "$(slope "$b" "$lo" "$hi")"; else echo; fi
done
if [ "${#ns[@]}" -gt 2 ]; then
  echo "--- bytes of peak RSS per file, step by step"
  for b in "${bins[@]}"; do
    printf '%-7s' "$b"
    for ((i = 1; i < ${#ns[@]}; i++)); do
      printf '  %d..%d: %.1f' "${ns[i - 1]}" "${ns[i]}" "$(slope "$b" "${ns[i - 1]}" "${ns[i]}")"
    done
    echo
  done
fi
