#!/usr/bin/env bash
# The README's test command: set up everything, then run the whole test suite.
# Extra arguments go to pytest (e.g. `-m "not slow"` for the fast subset).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
source "$ROOT/scripts/env.sh"
export AMENT_PREFIX_PATH="$ROOT/.venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export ROS_LOG_DIR="${ROS_LOG_DIR:-$ROOT/.cache/ros_log}"
cd "$ROOT"
exec "$ROOT/.venv/bin/python" -m pytest test "$@"
