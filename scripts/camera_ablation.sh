#!/usr/bin/env bash
# Which camera lets the recognizer tell the variations apart? The same demonstrations of the
# tasks whose variations differ in *where* the change happens (which drawer, shelf, tap),
# watched from RLBench's front camera or from mn's observer camera; the tiny recognizer trained
# on each for 3 seeds, top-1 accuracy on the held-out split (mean ± 95 % CI over seeds).
#
#   bash scripts/camera_ablation.sh [OUT=runs/camera_ablation]
# Results: $OUT/results.json, $OUT/results.md (copied to docs/results/camera/ by hand).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/env.sh"
MN="$ROOT/.venv/bin/mn"
PY="$ROOT/.venv/bin/python"
OUT="${1:-$ROOT/runs/camera_ablation}"
TASKS="${TASKS:-open_drawer,put_money_in_safe,turn_tap}"
EPISODES="${EPISODES:-30}"
STEPS="${STEPS:-600}"
RES="${RES:-64}"           # recognizer input (px); the tiny preset's 32 px hides a drawer's level
SEEDS="${SEEDS:-0 1 2}"
mkdir -p "$OUT"

"$MN" collect --tasks "$TASKS" --episodes-per-task "$EPISODES" --out "$OUT/data_observer" \
    --workers 2
# the same episodes without the observer camera: the recognizer then watches front (hard links)
if [ ! -e "$OUT/data_front/.done" ]; then
    rm -rf "$OUT/data_front"
    cp -al "$OUT/data_observer" "$OUT/data_front"
    rm -rf "$OUT/data_front/.mn_cache"
    "$PY" - "$OUT/data_front" <<'PY'
import json, os, shutil, sys
from pathlib import Path
for meta in Path(sys.argv[1]).glob("*/all_variations/episodes/episode*/episode.json"):
    ep = meta.parent
    for d in ep.glob("observer_*"):
        shutil.rmtree(d)
    (ep / "observer.mp4").unlink(missing_ok=True)
    m = json.loads(meta.read_text())
    m["cameras"] = [c for c in m["cameras"] if c != "observer"]
    m["video"] = None
    meta.unlink()                      # a hard link: replace it, do not write through it
    meta.write_text(json.dumps(m))
PY
    touch "$OUT/data_front/.done"
fi

for cam in observer front; do
    for s in $SEEDS; do
        run="$OUT/au_${cam}_s$s"
        if [ ! -e "$run/.done" ]; then
            "$MN" train --config "$ROOT/config/train/tiny_au.yaml" --out "$run" \
                data="$OUT/data_$cam" seed="$s" steps="$STEPS" tasks="[${TASKS}]" \
                recognizer_overrides.image_size="$RES" threads="${THREADS:-1}"
            touch "$run/.done"
        fi
    done
    "$MN" eval au --checkpoint $(for s in $SEEDS; do echo "$OUT/au_${cam}_s$s"; done) \
        --data "$OUT/data_$cam" --out "$OUT/eval_$cam" --json > "$OUT/eval_$cam.json"
done

"$PY" - "$OUT" "$TASKS" <<'PY'
import json, sys
from pathlib import Path
out, tasks = Path(sys.argv[1]), sys.argv[2].split(",")
res = {cam: json.loads((out / f"eval_{cam}.json").read_text()) for cam in ("front", "observer")}
lines = ["| camera | " + " | ".join(tasks) + " | Avg. (± 95 % CI over seeds) |",
         "|---" * (len(tasks) + 2) + "|"]
for cam, r in res.items():
    cells = [f"{100 * r['per_task'][t]:.1f}" for t in tasks]
    lines.append(f"| {cam} | " + " | ".join(cells) +
                 f" | **{100 * r['accuracy']:.1f} ± {100 * r['accuracy_ci95']:.1f}** |")
(out / "results.md").write_text("\n".join(lines) + "\n")
(out / "results.json").write_text(json.dumps(res, indent=1))
print("\n".join(lines))
PY
