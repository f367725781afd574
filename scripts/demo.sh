#!/usr/bin/env bash
# The README's main command: set up everything, then run the main job on the embedded
# default (MuJoCo Panda): collect a few demonstrations and write an mp4 of one.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
source "$ROOT/scripts/env.sh"
cd "$ROOT"
exec "$ROOT/.venv/bin/mn" demo "$@"
