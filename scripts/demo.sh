#!/usr/bin/env bash
# README command 1: run the main job on the built-in sample scene and print where the outputs are.
# Extra arguments go to `python -m gs_enhancer_addon demo` (see --help).
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
cd "$ROOT"
ensure_main_venv
exec "$MAIN_VENV/bin/python" -m gs_enhancer_addon demo "$@"
