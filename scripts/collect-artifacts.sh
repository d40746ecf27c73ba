#!/usr/bin/env bash
# Packs run folders for a technician: newest N runs (default 3), each with its report.html, into
# one tar.gz on stdout, e.g.
#   ssh station sudo /opt/myostream/scripts/collect-artifacts.sh 5 > runs.tar.gz
set -euo pipefail
root="${MYOSTREAM_RUNS:-${STATE_DIRECTORY:-/var/lib/myostream}/runs}"
count="${1:-3}"
[ -d "$root" ] || { echo "collect-artifacts: no run folder at $root (set MYOSTREAM_RUNS)" >&2; exit 2; }
mapfile -t runs < <(cd "$root" && ls -1d run-* 2>/dev/null | sort | tail -n "$count")
[ "${#runs[@]}" -gt 0 ] || { echo "collect-artifacts: $root holds no runs" >&2; exit 2; }
# Each run gets its report.html first (finished, running or crashed alike); a run whose report
# cannot be made is still packed.
pkg="$(cd "$(dirname "$0")/.." && pwd)"
for r in "${runs[@]}"; do
  node "$pkg/dist/src/main.js" report "$root/$r" >&2 || echo "collect-artifacts: no report for $r (packed without it)" >&2
done
# Every JSON/YAML artifact is replaced atomically, so copying a running run's folder is safe.
tar -C "$root" -czf - "${runs[@]}"
