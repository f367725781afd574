#!/usr/bin/env bash
# The main job on several seeds (issue 9): `mn demo --seed K` from nothing for each K (its
# own collection, training and scenes), then one table of shown / recognized / executed /
# success per seed with the time of each phase.
#
#   bash scripts/demo_seeds.sh                 # seeds 0..9, ~1 h on 2 cores; runs/demo_seeds
#   SEEDS="0 1" bash scripts/demo_seeds.sh
#
# A seed whose summary.json exists is not run again (re-running resumes).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
source "$ROOT/scripts/env.sh"
cd "$ROOT"
OUT="${OUT:-runs/demo_seeds}"
SEEDS="${SEEDS:-0 1 2 3 4 5 6 7 8 9}"
for k in $SEEDS; do
  if [ -f "$OUT/s$k/summary.json" ]; then continue; fi
  echo "[demo_seeds $(date +%H:%M:%S)] mn demo --seed $k" >&2
  start=$(date +%s)
  "$ROOT/.venv/bin/mn" demo --seed "$k" --out "$OUT/s$k" "$@" > "$OUT.s$k.log" 2>&1 \
    || echo "[demo_seeds] seed $k exited with $? (see $OUT.s$k.log)" >&2
  echo $(( $(date +%s) - start )) > "$OUT/s$k/wall_s" 2>/dev/null || true
done
"$ROOT/.venv/bin/python" -m mn_ros.demo_seeds_report "$OUT"
