#!/usr/bin/env bash
# Batch size and learning rate of the tiny policy preset, judged per minute of training
# (issue 9): each setting trains for the same wall-clock budget on the same data (2 torch
# threads, the trainer's real data path), then its rollouts are evaluated on unseen scenes.
# Results: $OUT/sweep.json and a plot of training loss against wall-clock minutes.
#
#   bash scripts/batch_sweep.sh                    # ~45 min on 2 cores; runs/sweep
#   BUDGET_S=60 EPISODES=6 OUT=/tmp/sw bash scripts/batch_sweep.sh     # smoke run
#
# Every stage is skipped when its result exists (re-running resumes).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
source "$ROOT/scripts/env.sh"
cd "$ROOT"
MN="$ROOT/.venv/bin/mn"
PY="$ROOT/.venv/bin/python"

OUT="${OUT:-runs/sweep}"
EPISODES="${EPISODES:-25}"             # demonstrations per task
BUDGET_S="${BUDGET_S:-180}"            # training wall-clock seconds per setting
SETTINGS="${SETTINGS:-4:1e-3 8:1e-3 16:1e-3 16:2e-3 32:2e-3}"   # batch:lr
SEEDS="${SEEDS:-0}"                    # training seeds per setting
EVAL_SEEDS="${EVAL_SEEDS:-0,1,2}"
EVAL_EPISODES="${EVAL_EPISODES:-8}"
TASKS="open_drawer,turn_tap,push_buttons"
VARIATIONS="push_buttons=0"
DATA="$OUT/data"
log() { echo "[sweep $(date +%H:%M:%S)] $*" >&2; }

log "data: $EPISODES keyframe-only demonstrations per task -> $DATA"
"$MN" collect --tasks open_drawer,turn_tap --episodes-per-task "$EPISODES" --out "$DATA" \
    --seed 0 --keyframes-only --no-video --log-every 30
"$MN" collect --tasks push_buttons --variations 0 --episodes-per-task "$EPISODES" --out "$DATA" \
    --seed 0 --keyframes-only --no-video --log-every 30

for setting in $SETTINGS; do
  bs=${setting%%:*}; lr=${setting##*:}
  for s in $SEEDS; do
    run="$OUT/ee_b${bs}_lr${lr}_s$s"
    common=(data="$DATA" threads=2 batch_size="$bs" lr_policy="$lr" seed="$s" log_every=50)
    if [ ! -f "$run/steps" ]; then
      # step time of this setting on this machine: 40 steps, then the budget in steps
      rm -rf "$run.probe"
      "$MN" train --config config/train/tiny_ee.yaml --out "$run.probe" "${common[@]}" \
          steps=40 ckpt_every=1000 2>/dev/null
      steps=$("$PY" - "$run.probe/metrics.jsonl" "$BUDGET_S" <<'PYEOF'
import json, sys
rows = [json.loads(x) for x in open(sys.argv[1])]
per = (rows[-1]["elapsed_s"] - rows[9]["elapsed_s"]) / (len(rows) - 10)
print(max(20, int(float(sys.argv[2]) / per)))
PYEOF
)
      rm -rf "$run.probe" "$run"
      mkdir -p "$run"
      echo "$steps" > "$run/steps"
    fi
    steps=$(cat "$run/steps")
    if [ ! -d "$run/checkpoints/step_$(printf %07d "$steps")" ]; then
      log "train $run: batch $bs, lr $lr, $steps steps (~${BUDGET_S}s)"
      resume=(); [ -d "$run/checkpoints" ] && resume=(--resume)
      "$MN" train --config config/train/tiny_ee.yaml --out "$run" "${resume[@]}" "${common[@]}" \
          steps="$steps" warmup_steps=$(( steps / 15 + 1 )) ckpt_every=$(( steps / 4 + 1 ))
    fi
    if [ ! -f "$run/eval_ee/results.json" ]; then
      log "evaluate $run"
      "$MN" eval ee --checkpoint "$run" --tasks "$TASKS" --variations "$VARIATIONS" \
          --episodes "$EVAL_EPISODES" --seeds "$EVAL_SEEDS" --no-video --out "$run/eval_ee" \
          --json > /dev/null
    fi
  done
done

"$PY" -m mn_models.sweep_report "$OUT"
