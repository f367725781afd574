#!/usr/bin/env bash
# The paper's study at the scale of this machine (issue 12): all 18 tasks of mn_sim, the
# recognizer (au), the policy (ee) and both trained jointly with the mirror-neuron alignment
# (mn) on the same data and the same number of samples, three training seeds, in stages that
# each finish within about two hours on 2 cores and can be resumed:
#
#   bash scripts/experiment.sh data        # demonstrations: 18 tasks x 50, all variations (~35 min)
#   bash scripts/experiment.sh seed 0      # train au, ee, mn (seed 0) and evaluate them (~2 h)
#   bash scripts/experiment.sh seed 1      # ... seed 1, seed 2
#   bash scripts/experiment.sh probe 0     # Observation 1: probe on frozen au/ee of seed 0
#   SUCCESS_SPLIT=1 bash scripts/experiment.sh probe 0   # + Observation 2 (success vs failure)
#   bash scripts/experiment.sh ablation tau_0.2 0        # Table 3, one row and seed
#   bash scripts/experiment.sh curve 1     # recognition at every kept checkpoint, au vs mn
#   bash scripts/experiment.sh long 1      # au and mn on an 8000-step schedule, the same curve
#   bash scripts/experiment.sh size 0      # the small presets' au and ee beside tiny's (seed 0)
#   bash scripts/experiment.sh datasize 10 1   # au and mn on 10 training episodes per task
#   bash scripts/experiment.sh report      # Tables 1-2, paired differences, figures
#
# Runs (datasets, checkpoints) go to $OUT (runs/study); the small result files each stage
# produces are copied to $RESULTS (docs/results/study/) with the command, the commit and the
# wall time (provenance.json), so that they survive a fresh machine: commit them. A stage whose
# result files exist is skipped (FORCE=1 redoes it); a stage that needs the data or a checkpoint
# that a fresh machine lacks rebuilds it first (collection and training are seeded; training on
# one thread repeats its losses exactly on the same kind of CPU).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[ -x "$ROOT/.venv/bin/mn" ] || bash "$ROOT/scripts/setup.sh"
source "$ROOT/scripts/env.sh"
cd "$ROOT"
MN="$ROOT/.venv/bin/mn"
PY="$ROOT/.venv/bin/python"

OUT="${OUT:-runs/study}"
RESULTS="${RESULTS:-docs/results/study}"
DATA="$OUT/data"
EPISODES="${EPISODES:-50}"            # demonstrations per task (round-robin over variations)
STEPS="${STEPS:-4000}"                # the same for au, ee and mn (batch 8: 32k samples each)
RES="${RES:-64}"                      # recognizer input (px): the tiny preset's 32 px hides a
                                      # drawer's level (docs/results/camera/)
EVAL_EPISODES="${EVAL_EPISODES:-25}"  # rollouts per task (evaluation seed 0), as the paper
PROBE_STEPS="${PROBE_STEPS:-1000}"
THREADS="${THREADS:-1}"               # per training process; two run at a time
COMMON=(data="$DATA" threads="$THREADS" log_every=100 tasks=all keep_checkpoints=10)
AU=(recognizer_overrides.image_size="$RES")

log() { echo "[experiment $(date +%H:%M:%S)] $*" >&2; }
commit() { git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown; }
have() { [ -z "${FORCE:-}" ] && [ -f "$1" ]; }

# provenance <result file> <seconds> <command...>: what produced a file under $RESULTS (under a
# lock: two stages may run at once, e.g. two Table 3 rows in two shells)
provenance() {
  local file=$1 secs=$2; shift 2
  mkdir -p "$OUT"
  flock "$OUT/.provenance.lock" "$PY" - "$RESULTS/provenance.json" "$file" "$secs" "$(commit)" "$*" <<'PY'
import datetime, json, os, sys
from pathlib import Path
path, file, secs, commit, cmd = sys.argv[1:]
p = Path(path)
d = json.loads(p.read_text()) if p.exists() else {}
d[file] = {"command": cmd, "commit": commit, "wall_s": round(float(secs), 1),
           "date": datetime.datetime.now().isoformat(timespec="seconds")}
tmp = p.with_suffix(".tmp")
tmp.write_text(json.dumps(d, indent=1, sort_keys=True) + "\n")
os.replace(tmp, p)
PY
}

# keep <source json> <dest under RESULTS> <seconds> <command>: copy a result, record how
keep() {
  mkdir -p "$(dirname "$RESULTS/$2")"
  cp "$1" "$RESULTS/$2.tmp" && mv "$RESULTS/$2.tmp" "$RESULTS/$2"
  provenance "$2" "$3" "$4"
}

stage_data() {
  mkdir -p "$RESULTS"
  local t0=$SECONDS
  local cmd=("$MN" collect --tasks all --episodes-per-task "$EPISODES" --out "$DATA" --seed 0
             --workers 2)
  log "data: ${cmd[*]}"
  "${cmd[@]}"                        # resumable: episodes already complete are kept
  if ! have "$RESULTS/data.json"; then
    "$PY" -m mn_models.eval.study data "$DATA" > "$OUT/data.json"
    keep "$OUT/data.json" data.json $((SECONDS - t0)) "${cmd[*]}"
  fi
}

trained() { [ -f "$1/checkpoints/step_$(printf %07d "$2")/meta.json" ]; }
train() {   # train <config> <run> <seed> <steps> overrides...
  local cfg=$1 run=$2 seed=$3 steps=$4; shift 4
  if trained "$run" "$steps"; then log "$run: trained"; return; fi
  local resume=(); [ -d "$run/checkpoints" ] && resume=(--resume)
  log "training $run ($steps steps)"
  "$MN" train --config "$cfg" --out "$run" "${resume[@]}" "${COMMON[@]}" steps="$steps" \
      seed="$seed" ckpt_every=500 "$@"
}

# side_by_side <train args> -- <train args>: two trainings at once, one per core (each
# `train`'s arguments); returns when both have finished, failing if either did
side_by_side() {
  local first=() pid rc=0
  while [ $# -gt 0 ] && [ "$1" != -- ]; do first+=("$1"); shift; done
  [ $# -gt 0 ] || { log "side_by_side: no '--' between the two trainings' arguments"; return 2; }
  shift
  ( train "${first[@]}" ) &
  pid=$!
  train "$@" || rc=$?
  wait "$pid" || rc=$?
  return "$rc"
}

# eval_au <run> <eval folder> <dest under RESULTS> [<note>]: held-out recognition (Table 1's
# `mn eval au`) of a run, kept with its command
eval_au() {
  have "$RESULTS/$3" && return
  local t0=$SECONDS
  "$MN" eval au --checkpoint "$1" --data "$DATA" --out "$2" --json > /dev/null
  keep "$2/results.json" "$3" $((SECONDS - t0)) "mn eval au --checkpoint $1 --data $DATA${4:+  # $4}"
}

# keep_curve <run> <dest under RESULTS> <command>: its metrics.jsonl, every 50th row and the
# last (a small file; the last row's elapsed_s is the training's wall time)
keep_curve() {
  have "$RESULTS/$2" && return
  "$PY" -c 'import sys; r = open(sys.argv[1]).read().splitlines()
print("\n".join(r[::50] + ([r[-1]] if (len(r) - 1) % 50 else [])))' \
      "$1/metrics.jsonl" > "$1/metrics_every50.jsonl"
  keep "$1/metrics_every50.jsonl" "$2" 0 "$3 (every 50th row)"
}

stage_seed() {
  local s=$1 t0; local dir="seed$s"
  stage_data                         # quick when the data is complete
  # two training processes at a time: au then ee on one, mn on the other
  ( train config/train/tiny_au.yaml "$OUT/au_s$s" "$s" "$STEPS" "${AU[@]}"
    train config/train/tiny_ee.yaml "$OUT/ee_s$s" "$s" "$STEPS" ) &
  local pid=$!
  train config/train/tiny_mn.yaml "$OUT/mn_s$s" "$s" "$STEPS" "${AU[@]}"
  wait "$pid"
  for m in au ee mn; do             # the training curves, every 50th step (small files)
    keep_curve "$OUT/${m}_s$s" "$dir/train_$m.jsonl" \
        "mn train --config config/train/tiny_$m.yaml ${COMMON[*]} steps=$STEPS seed=$s$( \
         [ $m = ee ] || echo " ${AU[*]}")"
  done
  for m in au mn; do                 # Table 1: recognition of the held-out demonstrations
    eval_au "$OUT/${m}_s$s" "$OUT/eval/au_${m}_s$s" "$dir/recognition_$m.json"
  done
  for m in ee mn; do                 # Table 2: rollouts; mn also runs the success monitor
    have "$RESULTS/$dir/execution_$m.json" && continue
    local extra=(); [ "$m" = mn ] && extra=(--monitor)
    t0=$SECONDS
    "$MN" eval ee --checkpoint "$OUT/${m}_s$s" --episodes "$EVAL_EPISODES" --seeds 0 \
        --workers 2 --videos first --out "$OUT/eval/ee_${m}_s$s" "${extra[@]}" --json > /dev/null
    keep "$OUT/eval/ee_${m}_s$s/results.json" "$dir/execution_$m.json" $((SECONDS - t0)) \
        "mn eval ee --checkpoint $OUT/${m}_s$s --episodes $EVAL_EPISODES --seeds 0 --workers 2 ${extra[*]}"
    [ -f "$OUT/eval/ee_${m}_s$s/monitor_roc.png" ] && cp "$OUT/eval/ee_${m}_s$s/monitor_roc.png" \
        "$RESULTS/$dir/monitor_roc.png"
  done
  have "$RESULTS/$dir/alignment_mn.json" || {
    t0=$SECONDS
    "$MN" eval probe --probe "$OUT/mn_s$s" --data "$DATA" --out "$OUT/eval/align_mn_s$s" \
        --json > /dev/null
    keep "$OUT/eval/align_mn_s$s/results.json" "$dir/alignment_mn.json" $((SECONDS - t0)) \
        "mn eval probe --probe $OUT/mn_s$s --data $DATA"; }
  if [ "$s" = 0 ]; then              # figures: recall during training (Fig. 3 left), t-SNE
    have "$RESULTS/$dir/mn_series.json" || {
      t0=$SECONDS
      "$MN" eval probe --series "$OUT/mn_s$s" --data "$DATA" --out "$OUT/eval/series_mn_s$s" \
          --json > /dev/null
      cp "$OUT/eval/series_mn_s$s/recall_vs_step.png" "$RESULTS/$dir/mn_recall_vs_step.png"
      keep "$OUT/eval/series_mn_s$s/series.json" "$dir/mn_series.json" $((SECONDS - t0)) \
          "mn eval probe --series $OUT/mn_s$s --data $DATA"; }
    have "$RESULTS/$dir/tsne_mn.json" || {
      t0=$SECONDS
      "$MN" eval tsne --checkpoint "$OUT/mn_s$s" --data "$DATA" --out "$OUT/eval/tsne_mn_s$s.png"
      cp "$OUT/eval/tsne_mn_s$s.png" "$RESULTS/$dir/tsne_mn.png"
      keep "$OUT/eval/tsne_mn_s$s.json" "$dir/tsne_mn.json" $((SECONDS - t0)) \
          "mn eval tsne --checkpoint $OUT/mn_s$s --data $DATA"; }
  fi
  log "seed $s: done; results in $RESULTS/$dir"
}

# Table 3 (reduced budget: ABL_STEPS steps, ABL_EPISODES rollouts per task): one mn run per
# row, the same seed, data and samples as the seed stage otherwise.
declare -A ABLATION=(
  [pairs_episode]="alignment.strategy=episode"
  [pairs_instruction]="alignment.strategy=instruction"
  [pairs_task]="alignment.strategy=task"
  [tau_0.02]="alignment.tau=0.02"
  [tau_0.2]="alignment.tau=0.2"
  [lambda_0.1]="lambda_align=0.1"
  [lambda_1.0]="lambda_align=1.0"
  [head_mlp]="alignment.head=mlp"
  [one_lr]="lr_align=1.0e-3 lr_text_fraction=1.0"
)
DEFAULT_ROW=pairs_instruction          # tiny_mn.yaml's own alignment settings
stage_ablation() {   # ablation <row> <seed>
  local row=$1 s=$2 t0; local dir="ablation/${row}_s${s}"
  local ov=${ABLATION[$row]:?"unknown row $row; rows: ${!ABLATION[*]}"}
  stage_data
  local steps=${ABL_STEPS:-$STEPS} run="$OUT/abl_${row}_s$s"
  if [ "$row" = "$DEFAULT_ROW" ] && [ "$steps" = "$STEPS" ]; then
    # the default is tiny_mn.yaml itself: the seed stage's mn run, trained on the same seed,
    # data and steps on one thread, is this run (training again repeats it exactly)
    run="$OUT/mn_s$s"
    trained "$run" "$STEPS" || stage_seed "$s"
  else
    # shellcheck disable=SC2086
    train config/train/tiny_mn.yaml "$run" "$s" "$steps" "${AU[@]}" $ov
  fi
  eval_au "$run" "$OUT/eval/abl_${row}_s$s" "$dir/recognition.json" \
      "trained with: $ov steps=$steps"
  have "$RESULTS/$dir/execution.json" || {
    t0=$SECONDS
    "$MN" eval ee --checkpoint "$run" --episodes "${ABL_EPISODES:-10}" --seeds 0 --workers 2 \
        --videos none --out "$OUT/eval/abl_ee_${row}_s$s" --json > /dev/null
    keep "$OUT/eval/abl_ee_${row}_s$s/results.json" "$dir/execution.json" $((SECONDS - t0)) \
        "mn eval ee --checkpoint $run --episodes ${ABL_EPISODES:-10} --seeds 0"; }
}

stage_probe() {   # Observation 1 (and 2 with SUCCESS_SPLIT=1) on the frozen au/ee of a seed
  local s=$1 t0; local dir="seed$s"
  trained "$OUT/au_s$s" "$STEPS" && trained "$OUT/ee_s$s" "$STEPS" || stage_seed "$s"
  train config/train/tiny_probe.yaml "$OUT/probe_s$s" "$s" "$PROBE_STEPS" \
      au_checkpoint="$OUT/au_s$s" ee_checkpoint="$OUT/ee_s$s"
  if [ -n "${SUCCESS_SPLIT:-}" ] && ! have "$RESULTS/$dir/probe_success_split.json"; then
    t0=$SECONDS                      # Observation 2: success vs failure rollouts, equal sizes
    "$MN" eval probe --probe "$OUT/probe_s$s" --ee "$OUT/ee_s$s" --data "$DATA" \
        --success-split --workers 2 --out "$OUT/eval/probe_ss_s$s" --json > /dev/null
    keep "$OUT/eval/probe_ss_s$s/results.json" "$dir/probe_success_split.json" \
        $((SECONDS - t0)) "mn eval probe --probe $OUT/probe_s$s --ee $OUT/ee_s$s --data $DATA --success-split"
  fi
  for v in "" --shuffle; do
    local name="probe${v:+_shuffled}"
    have "$RESULTS/$dir/$name.json" && continue
    t0=$SECONDS
    "$MN" eval probe --probe "$OUT/probe_s$s" --data "$DATA" $v --out "$OUT/eval/probe_s$s" \
        --json > /dev/null
    keep "$OUT/eval/probe_s$s/$( [ -n "$v" ] && echo shuffled || echo results).json" \
        "$dir/$name.json" $((SECONDS - t0)) "mn eval probe --probe $OUT/probe_s$s --data $DATA $v"
  done
}

# curve_of <au run> <mn run> <eval prefix> <result name> <seed> [<stage start, $SECONDS>]: held-out
# recognition (`mn eval au`) at every kept checkpoint of an au and an mn run, into
# $RESULTS/seed<S>/<result name>.json; its wall time counts from the stage's start if given
curve_of() {
  local au=$1 mn=$2 pre=$3 name=$4 s=$5 t0=${6:-$SECONDS} m run ck step
  for m in au mn; do
    run=$au; [ "$m" = mn ] && run=$mn
    for ck in "$run"/checkpoints/step_*; do
      step=$((10#${ck##*_}))
      [ -f "$OUT/eval/${pre}_${m}_s${s}/step_$step/results.json" ] && continue
      log "$name: $m seed $s step $step"
      "$MN" eval au --checkpoint "$ck" --data "$DATA" \
          --out "$OUT/eval/${pre}_${m}_s${s}/step_$step" --json > /dev/null
    done
  done
  "$PY" - "$OUT/eval" "$pre" "$s" > "$OUT/eval/${name}_s$s.json" <<'PY'
import json, sys
from pathlib import Path
root, pre, s = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
out = {}
for m in ("au", "mn"):
    pts = [(int(p.parent.name[5:]), json.loads(p.read_text())["accuracy"])
           for p in (root / f"{pre}_{m}_s{s}").glob("step_*/results.json")]
    out[m] = [{"step": st, "accuracy": a} for st, a in sorted(pts)]
print(json.dumps(out, indent=1))
PY
  keep "$OUT/eval/${name}_s$s.json" "seed$s/$name.json" $((SECONDS - t0)) \
      "mn eval au --checkpoint {$au,$mn}/checkpoints/step_* --data $DATA"
}

stage_curve() {   # held-out recognition at every kept checkpoint of au and mn of a seed
  local s=$1
  have "$RESULTS/seed$s/curve_recognition.json" && return
  trained "$OUT/au_s$s" "$STEPS" && trained "$OUT/mn_s$s" "$STEPS" || stage_seed "$s"
  curve_of "$OUT/au_s$s" "$OUT/mn_s$s" curve curve_recognition "$s"
}

stage_long() {   # au and mn on a longer schedule (LONG_STEPS), recognition every 1000 steps
  local s=$1 steps=${LONG_STEPS:-8000} t0=$SECONDS
  have "$RESULTS/seed$s/curve_long_recognition.json" && return
  stage_data
  # the cosine schedule spans the whole run, so this is a new run, not the 4000-step one resumed
  side_by_side config/train/tiny_au.yaml "$OUT/au_long_s$s" "$s" "$steps" "${AU[@]}" ckpt_every=1000 \
      -- config/train/tiny_mn.yaml "$OUT/mn_long_s$s" "$s" "$steps" "${AU[@]}" ckpt_every=1000
  curve_of "$OUT/au_long_s$s" "$OUT/mn_long_s$s" long curve_long_recognition "$s" "$t0"
}

stage_size() {   # model size: the small presets' au and ee beside the seed stage's tiny ones
  local s=$1 t0; local dir="size/small_s$s"
  have "$RESULTS/$dir/recognition.json" && have "$RESULTS/$dir/execution.json" && return
  # tiny's side: the seed stage's au and ee, trained and evaluated
  trained "$OUT/au_s$s" "$STEPS" && trained "$OUT/ee_s$s" "$STEPS" \
      && [ -f "$RESULTS/seed$s/recognition_au.json" ] && [ -f "$RESULTS/seed$s/execution_ee.json" ] \
      || stage_seed "$s"
  # the same data, seed, steps and batch as tiny's, one thread each; au beside ee (the seed
  # stage runs au then ee beside mn: wall times compare only as far as the load does)
  side_by_side config/train/tiny_au.yaml "$OUT/au_small_s$s" "$s" "$STEPS" "${AU[@]}" recognizer=small \
      -- config/train/tiny_ee.yaml "$OUT/ee_small_s$s" "$s" "$STEPS" policy=small
  keep_curve "$OUT/au_small_s$s" "$dir/train_au.jsonl" \
      "mn train --config config/train/tiny_au.yaml ${COMMON[*]} steps=$STEPS seed=$s ${AU[*]} recognizer=small"
  keep_curve "$OUT/ee_small_s$s" "$dir/train_ee.jsonl" \
      "mn train --config config/train/tiny_ee.yaml ${COMMON[*]} steps=$STEPS seed=$s policy=small"
  have "$RESULTS/$dir/weights.json" || {
    "$PY" -m mn_models.eval.study weights tiny_au="$OUT/au_s$s" tiny_ee="$OUT/ee_s$s" \
        small_au="$OUT/au_small_s$s" small_ee="$OUT/ee_small_s$s" > "$OUT/weights_s$s.json"
    keep "$OUT/weights_s$s.json" "$dir/weights.json" 0 \
        "python -m mn_models.eval.study weights (the four runs' checkpoints)"; }
  eval_au "$OUT/au_small_s$s" "$OUT/eval/au_small_s$s" "$dir/recognition.json"
  have "$RESULTS/$dir/execution.json" || {
    t0=$SECONDS
    "$MN" eval ee --checkpoint "$OUT/ee_small_s$s" --episodes "$EVAL_EPISODES" --seeds 0 \
        --workers 2 --videos none --out "$OUT/eval/ee_small_s$s" --json > /dev/null
    keep "$OUT/eval/ee_small_s$s/results.json" "$dir/execution.json" $((SECONDS - t0)) \
        "mn eval ee --checkpoint $OUT/ee_small_s$s --episodes $EVAL_EPISODES --seeds 0 --workers 2"; }
  log "size, seed $s: done; results in $RESULTS/$dir"
}

stage_datasize() {   # au and mn trained on the first K training episodes of each task
  local k=$1 s=$2 m; local dir="datasize/k${k}_s$s"
  have "$RESULTS/$dir/recognition_au.json" && have "$RESULTS/$dir/recognition_mn.json" && return
  stage_data
  # the same steps, batch and seed as the seed stage: only the training episodes differ
  side_by_side config/train/tiny_au.yaml "$OUT/au_k${k}_s$s" "$s" "$STEPS" "${AU[@]}" \
        train_episodes_per_task="$k" \
      -- config/train/tiny_mn.yaml "$OUT/mn_k${k}_s$s" "$s" "$STEPS" "${AU[@]}" \
        train_episodes_per_task="$k"
  for m in au mn; do
    keep_curve "$OUT/${m}_k${k}_s$s" "$dir/train_$m.jsonl" \
        "mn train --config config/train/tiny_$m.yaml ${COMMON[*]} steps=$STEPS seed=$s ${AU[*]} train_episodes_per_task=$k"
    eval_au "$OUT/${m}_k${k}_s$s" "$OUT/eval/au_${m}_k${k}_s$s" "$dir/recognition_$m.json" \
        "trained with train_episodes_per_task=$k"
  done
  log "data size $k, seed $s: done; results in $RESULTS/$dir"
}

case "${1:-}" in
  data) stage_data ;;
  seed) stage_seed "${2:?seed number}" ;;
  probe) stage_probe "${2:?seed number}" ;;
  ablation) stage_ablation "${2:?row}" "${3:-0}" ;;
  curve) stage_curve "${2:?seed number}" ;;
  long) stage_long "${2:?seed number}" ;;
  size) stage_size "${2:?seed number}" ;;
  datasize) stage_datasize "${2:?episodes per task}" "${3:?seed number}" ;;
  report) "$PY" -m mn_models.eval.study report "$RESULTS" --readme "$ROOT/README.md" ;;
  *) awk 'NR > 1 && !/^#/ {exit} NR > 1' "$0"; exit 2 ;;
esac
