#!/usr/bin/env bash
# Salvage benchmark (not a timed test): mailrescue salvage vs debugfs rdump vs
# tsk_recover vs a plain sequential read of the image, alternating runs in one
# invocation, all writing to the same filesystem (OUTDIR). Prints each run,
# the medians, the ratios against mailrescue and mailrescue's peak RSS.
# After each mailrescue run, mr_write_floor re-creates its output tree from
# memory on the same cores and filesystem: "write-floor", the least any tool
# that writes this tree can take (the floor for reading is "cat"). The last
# lines set the issue's targets (3x rdump warm, 10x rdump cold) against both.
#
# usage: bench/salvage_bench.sh [IMG] [RUNS] [OUTDIR] [JOBS]
#   IMG     default: /work/bench-spool/s200k.img, built once (~5 s) with
#           `mr_hugefolder spool`: 200,000 messages in 200 folders of 50 users,
#           delivered interleaved and with hash-tree directories, as a live
#           server leaves a spool. (make_salvage_image.py builds the other
#           shape, mke2fs -d's folder-after-folder linear directories, where
#           directory order is inode order: the best case for rdump.)
#   RUNS    runs per tool (default 3)
#   OUTDIR  where outputs go (default /dev/shm if present, else /tmp)
#   JOBS    mailrescue --jobs (default: number of cores)
# Env: MAILRESCUE (binary; default build/cli/mailrescue), COLD=1 drops
# the page cache before each run when /proc/sys/vm/drop_caches is writable.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
img=${1:-/work/bench-spool/s200k.img}
runs=${2:-3}
outdir=${3:-$([ -d /dev/shm ] && echo /dev/shm || echo /tmp)}
jobs=${4:-$(nproc)}
mr=${MAILRESCUE:-$here/../build/cli/mailrescue}
[ -x "$mr" ] || { echo "salvage_bench: $mr not built" >&2; exit 2; }
floor=${WRITE_FLOOR:-$(dirname "$mr")/../bench/write_floor/mr_write_floor}
[ -x "$floor" ] || { echo "salvage_bench: $floor not built (no write-floor row)" >&2; floor=; }
if [ ! -f "$img" ]; then
  mkdir -p "$(dirname "$img")"
  tool=$(dirname "$mr")/../fixtures/hugefolder/mr_hugefolder
  [ -x "$tool" ] || { echo "salvage_bench: $tool not built" >&2; exit 2; }
  "$tool" spool --out "$img" --messages 200000 --per-folder 1000 --users 50 2>/dev/null
fi
work=$(mktemp -d "$outdir/mr-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
cold=0
if [ "${COLD:-0}" = 1 ] && [ -w /proc/sys/vm/drop_caches ]; then cold=1; fi
drop() { if [ $cold = 1 ]; then sync; echo 3 > /proc/sys/vm/drop_caches; else cat "$img" > /dev/null; fi; }

declare -A times cpus
rss=0
run_one() {  # name, then the command (OUT replaced by a fresh output dir)
  local name=$1; shift
  local out="$work/$name.out"
  rm -rf "$out"
  [ "$name" = rdump ] && mkdir -p "$out"
  drop
  local cmd=("${@//OUT/$out}")
  local t0 t1
  t0=$(date +%s.%N)
  /usr/bin/time -f '%U %S %M' -o "$work/rss" "${cmd[@]}" > /dev/null 2> "$work/err" || {
    rc=$?; if [ "$name" = mailrescue ] && [ $rc = 1 ]; then :; else echo "$name failed ($rc):" >&2; tail -3 "$work/err" >&2; fi; }
  t1=$(date +%s.%N)
  local dt; dt=$(echo "$t1 - $t0" | bc -l)
  times[$name]="${times[$name]:-} $dt"
  local u s r; read -r u s r < <(tail -1 "$work/rss")
  local cpu; cpu=$(echo "$u + $s" | bc -l)
  cpus[$name]="${cpus[$name]:-} $cpu"
  if [ "$name" = mailrescue ]; then
    [ "$r" -gt "$rss" ] && rss=$r
    files=$(find "$out/spool" -type f | wc -l)
  fi
  printf '%-12s %8.2f s wall %8.2f s cpu\n' "$name" "$dt" "$cpu"
  if [ "$name" = mailrescue ] && [ -n "$floor" ]; then
    local f; f=$("$floor" "$out" "$work/floor.out" "$jobs")
    local fw fc; fw=$(echo "$f" | awk '{print $(NF-2)}'); fc=$(echo "$f" | awk '{print $NF}')
    times[write-floor]="${times[write-floor]:-} $fw"
    cpus[write-floor]="${cpus[write-floor]:-} $fc"
    printf '%-12s %8.2f s wall %8.2f s cpu  (%s)\n' write-floor "$fw" "$fc" "$(echo "$f" | cut -d' ' -f1-6)"
    rm -rf "$work/floor.out"
  fi
  rm -rf "$out"
}

echo "image: $img ($(du -h --apparent-size "$img" | cut -f1)), outputs in $outdir, runs $runs, jobs $jobs, cache: $([ $cold = 1 ] && echo cold || echo warm)"
for ((i = 0; i < runs; i++)); do
  run_one mailrescue "$mr" -q salvage "$img" --out OUT --jobs "$jobs"
  run_one rdump /usr/sbin/debugfs -R "rdump / OUT" "$img"
  if command -v tsk_recover > /dev/null; then run_one tsk_recover tsk_recover -a "$img" OUT; fi
  run_one cat bash -c "cat '$img' > /dev/null"
done

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
echo "--- medians (mailrescue extracted $files files; peak RSS $((rss / 1024)) MiB)"
m=$(echo "${times[mailrescue]}" | median)
mc=$(echo "${cpus[mailrescue]}" | median)
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores (wall times need idle cores)"
for name in mailrescue rdump tsk_recover cat write-floor; do
  [ -n "${times[$name]:-}" ] || continue
  v=$(echo "${times[$name]}" | median)
  c=$(echo "${cpus[$name]}" | median)
  printf '%-12s %8.2f s wall (%5.2fx mailrescue)  %8.2f s cpu (%5.2fx)\n' "$name" "$v" \
    "$(echo "$v / $m" | bc -l)" "$c" "$(echo "$c / $mc" | bc -l)"
done
if [ -n "${times[rdump]:-}" ]; then
  r=$(echo "${times[rdump]}" | median)
  want=$([ $cold = 1 ] && echo 10 || echo 3)
  need=$(echo "$r / $want" | bc -l)
  fl=$(echo "${times[write-floor]:-0}" | median)
  ct=$(echo "${times[cat]:-0}" | median)
  printf 'target: %sx rdump = %.2f s; mailrescue %.2f s (%.2fx); write-floor %.2f s, cat %.2f s: best possible here %.2fx\n' \
    "$want" "$need" "$m" "$(echo "$r / $m" | bc -l)" "$fl" "$ct" \
    "$(echo "m = $fl; if ($ct > m) m = $ct; if (m > 0) $r / m else 0" | bc -l)"
fi
