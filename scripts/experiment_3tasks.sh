#!/usr/bin/env bash
# The tiny-scale version of the paper's experiments, as measured for the README ("Results"):
# collect demonstrations of three tasks, train the recognizer (au, several seeds), the policy
# (ee) and both jointly with the mirror-neuron alignment (mn), train a probe on the separately
# trained au and ee, then evaluate: recognition (Table 1), rollouts (Table 2), alignment
# Recall@1 of the probe against the same probe on shuffled pairs, and recall during training.
#
#   bash scripts/experiment_3tasks.sh                  # ~1 h on 2 cores; everything under runs/exp
#   OUT=/tmp/exp EPISODES=30 bash scripts/experiment_3tasks.sh
#
# Every step is skipped when its result exists (re-running resumes), and every figure is
# written to $OUT/<run>/eval_*/ as markdown, JSON and PNG. Set-up: scripts/setup.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
source "$ROOT/scripts/env.sh"
cd "$ROOT"
MN="$ROOT/.venv/bin/mn"

OUT="${OUT:-runs/exp}"
EPISODES="${EPISODES:-100}"          # per task
AU_SEEDS="${AU_SEEDS:-0 1 2}"         # training seeds of the recognizer (mean ± 95% CI)
EE_SEEDS="${EE_SEEDS:-0}"             # training seeds of the policy and of the joint model
EVAL_SEEDS="${EVAL_SEEDS:-0,1,2}"     # rollout seeds
EVAL_EPISODES="${EVAL_EPISODES:-8}"   # rollouts per task and seed
AU_STEPS="${AU_STEPS:-3000}"
EE_STEPS="${EE_STEPS:-2000}"
MN_STEPS="${MN_STEPS:-2000}"
PROBE_STEPS="${PROBE_STEPS:-600}"
KEYFRAMES="${KEYFRAMES:-expert}"      # kfs.json: expert waypoints, or PerAct's "heuristic"
DATA="$OUT/data"
VARIATIONS="push_buttons=0"           # single-button push_buttons; all variations elsewhere
TASKS="open_drawer,turn_tap,push_buttons"
COMMON=(data="$DATA" threads=1 log_every=250 keep_checkpoints=20)
# BATCH=4 reproduces the README's Results (measured when the ee/mn presets trained at batch 4)
EEMN=(); [ -n "${BATCH:-}" ] && EEMN=(batch_size="$BATCH")

log() { echo "[experiment $(date +%H:%M:%S)] $*" >&2; }
done_run() { [ -f "$1/checkpoints/step_$(printf %07d "$2")/meta.json" ]; }
train() {   # train <config> <out> <steps> overrides...
  local cfg=$1 out=$2 steps=$3; shift 3
  if done_run "$out" "$steps"; then log "$out: done"; return; fi
  log "training $out ($steps steps)"
  local resume=(); [ -d "$out/checkpoints" ] && resume=(--resume)
  "$MN" train --config "$cfg" --out "$out" "${resume[@]}" "${COMMON[@]}" steps="$steps" "$@"
}

log "1/4 demonstrations: $EPISODES per task -> $DATA"
"$MN" collect --tasks open_drawer,turn_tap --episodes-per-task "$EPISODES" --out "$DATA" --seed 0 \
    --keyframe-source "$KEYFRAMES"
"$MN" collect --tasks push_buttons --variations 0 --episodes-per-task "$EPISODES" --out "$DATA" \
    --seed 0 --keyframe-source "$KEYFRAMES"

log "2/4 training (two runs at a time, one thread each)"
pids=()
for s in $AU_SEEDS; do
  train config/train/tiny_au.yaml "$OUT/au_s$s" "$AU_STEPS" seed="$s" ckpt_every=1000
done &
pids+=($!)
(for s in $EE_SEEDS; do
  train config/train/tiny_ee.yaml "$OUT/ee_s$s" "$EE_STEPS" seed="$s" ckpt_every=500 "${EEMN[@]}"
done) &
pids+=($!)
for p in "${pids[@]}"; do wait "$p"; done
pids=()
(for s in $EE_SEEDS; do
  train config/train/tiny_mn.yaml "$OUT/mn_s$s" "$MN_STEPS" seed="$s" ckpt_every=250 "${EEMN[@]}"
done) &
pids+=($!)
train config/train/tiny_probe.yaml "$OUT/probe" "$PROBE_STEPS" seed=0 ckpt_every=100 \
    au_checkpoint="$OUT/au_s0" ee_checkpoint="$OUT/ee_s0"
for p in "${pids[@]}"; do wait "$p"; done

log "3/4 evaluations"
au_runs=(); for s in $AU_SEEDS; do au_runs+=("$OUT/au_s$s"); done
mn_runs=(); for s in $EE_SEEDS; do mn_runs+=("$OUT/mn_s$s"); done
"$MN" eval au --checkpoint "${au_runs[@]}" --data "$DATA" --out "$OUT/eval/au" --json
"$MN" eval au --checkpoint "${mn_runs[@]}" --data "$DATA" --out "$OUT/eval/au_mn" --json
for s in $EE_SEEDS; do
  for m in ee mn; do
    "$MN" eval ee --checkpoint "$OUT/${m}_s$s" --tasks "$TASKS" --variations "$VARIATIONS" \
        --episodes "$EVAL_EPISODES" --seeds "$EVAL_SEEDS" --out "$OUT/eval/${m}_s$s" --json
  done
done
"$MN" eval probe --probe "$OUT/probe" --data "$DATA" --out "$OUT/eval/probe" --json
"$MN" eval probe --probe "$OUT/probe" --data "$DATA" --shuffle --out "$OUT/eval/probe_shuffled" \
    --json
"$MN" eval probe --probe "$OUT/mn_s0" --data "$DATA" --out "$OUT/eval/mn_alignment" --json
"$MN" eval probe --series "$OUT/mn_s0" --data "$DATA" --out "$OUT/eval/mn_series" --json

log "4/4 figures"
"$MN" eval tsne --checkpoint "$OUT/mn_s0" --data "$DATA" --out "$OUT/eval/tsne_mn.png"
log "done: results under $OUT/eval"
