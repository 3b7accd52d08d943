#!/usr/bin/env bash
# README command 2: run the test suite.
#   leg 1: everything, in .venv (torch CPU build, bpy 5.0.1);
#   leg 2: the Blender-facing tests that need no torch, in .venv-bpy42 (bpy 4.2.23 LTS).
# Extra arguments go to pytest in both legs. GSE_SKIP_BPY42=1 skips leg 2 (quick local runs).
# Exits non-zero if any leg fails or collects no test (pytest exit code 5 is a failure here).
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
cd "$ROOT"

ensure_main_venv
echo ">> leg 1: bpy 5.0.1 + torch"
"$MAIN_VENV/bin/python" -m pytest "$@"

if [ "${GSE_SKIP_BPY42:-0}" != "1" ]; then
    ensure_bpy42_venv
    echo ">> leg 2: bpy 4.2.23, Blender-facing tests without torch"
    "$BPY42_VENV/bin/python" -m pytest tests/blender -m "not needs_torch" "$@"
fi
