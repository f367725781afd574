#!/usr/bin/env bash
# One-time (idempotent) set-up of a fresh Debian 12 machine for mn:
# system packages for headless rendering, a virtual environment in .venv, pinned Python
# dependencies, and mn itself (editable). A second run reuses what is installed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3}"

log() { printf '[mn setup] %s\n' "$*" >&2; }
# pip's notes about this machine's local wheel mirrors are noise: drop them, keep real errors
quiet_pip() { "$VENV/bin/pip" "$@" 2>&1 | { grep -v "^WARNING: Location 'file://" || true; }; }

# 1. System packages: EGL/OSMesa software rendering for MuJoCo without a display.
need_apt=()
for pkg in libegl1 libegl-mesa0 libgl1-mesa-dri libgl1 libosmesa6; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  log "installing system packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# 2. Virtual environment and pinned dependencies (skipped when nothing changed).
stamp_src="$(cat "$ROOT/requirements.txt" "$ROOT/requirements-nodeps.txt" "$ROOT/setup.py" "$0" | sha256sum | cut -c1-16)"
stamp="$VENV/.mn-setup-$stamp_src"
if [ ! -x "$VENV/bin/python" ]; then
  log "creating virtual environment in $VENV"
  "$PY" -m venv "$VENV"
fi
if [ ! -f "$stamp" ]; then
  log "installing Python dependencies (torch CPU, MuJoCo, ROS 2 Kilted wheels, ...)"
  quiet_pip install -q --disable-pip-version-check -r "$ROOT/requirements.txt"
  quiet_pip install -q --disable-pip-version-check --no-deps -r "$ROOT/requirements-nodeps.txt"
  quiet_pip install -q --disable-pip-version-check --no-deps -e "$ROOT"
  rm -f "$VENV"/.mn-setup-*
  touch "$stamp"
  log "done: $("$VENV/bin/python" -c 'import torch, mujoco; print("torch", torch.__version__, "mujoco", mujoco.__version__)')"
else
  log "dependencies up to date ($VENV)"
fi
