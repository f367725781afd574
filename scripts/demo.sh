#!/usr/bin/env bash
# The README's main command: set up everything, then run the main job (`mn demo`) on the
# embedded default (MuJoCo Panda): collect demonstrations, train a tiny mn checkpoint, bring
# up the ROS 2 mirror graph, show it a held-out demonstration, let the policy do what the
# observer recognized; prints a summary, writes runs/demo/summary.json and execution.mp4.
# A second run reuses the demonstrations and the checkpoint. Options: `mn demo --help`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
source "$ROOT/scripts/env.sh"
cd "$ROOT"
exec "$ROOT/.venv/bin/mn" demo "$@"
