#!/usr/bin/env bash
# The rescue HTML report opens in a browser with no network: render it in headless Chromium,
# take a screenshot, and check the DOM holds the user table, the timeline and the damage map.
set -euo pipefail
CLI=$1
FIX=$2
OUTPNG=$3
work=$(mktemp -d /tmp/mr_html.XXXXXX)
trap 'rm -rf "$work"' EXIT
"$CLI" -q rescue "$FIX/current.img" --backup-spool "$FIX/backup/spool" \
  --backup-db "$FIX/backup/conf/mailboxes.db" --out-spool "$work/out/spool" \
  --out-db "$work/out/conf/mailboxes.db" --workdir "$work/work" --no-fsync \
  --html-report "$work/report.html" >/dev/null || [ $? -eq 1 ]
[ -s "$work/report.html" ] || { echo "no HTML report written"; exit 1; }
if grep -qE 'src="http|href="http|<script' "$work/report.html"; then echo "report is not self-contained"; exit 1; fi
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking
       --disable-component-update --disable-sync --user-data-dir="$work/profile")
timeout 120 chromium "${flags[@]}" --dump-dom "file://$work/report.html" > "$work/dom.html" 2>/dev/null
for id in users timeline damagemap; do
  grep -q "id=\"$id\"" "$work/dom.html" || { echo "rendered DOM lacks #$id"; exit 1; }
done
users=$(grep -c '<tr class="st-' "$work/dom.html" || true)
[ "$users" -ge 4 ] || { echo "user table has $users rows"; exit 1; }
timeout 120 chromium "${flags[@]}" --window-size=1200,900 --screenshot="$OUTPNG" "file://$work/report.html" \
  >/dev/null 2>&1
[ "$(stat -c %s "$OUTPNG")" -gt 5000 ] || { echo "screenshot too small"; exit 1; }
echo "rendered: $users users; screenshot $OUTPNG"
