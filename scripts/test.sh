#!/usr/bin/env bash
# README command 2: run the test suite, on every Blender generation the extension supports.
#   leg 1: everything, in .venv (Python 3.11, torch CPU build, bpy 5.0.1);
#   leg 2: the Blender-facing tests that need no torch, in .venv-bpy42 (bpy 4.2.23 LTS, Python 3.11);
#   leg 3: the same on bpy 5.2.3 (Blender 5.1+: Python 3.13, numpy 2), in .venv-bpy52.
# Extra arguments go to pytest in every leg. GSE_SKIP_BPY42=1 / GSE_SKIP_BPY52=1 skip legs 2 / 3
# (quick local runs). Exits non-zero if any leg fails or collects no test (pytest exit code 5 is a
# failure here). The extension-install test downloads two small wheels once into .cache/test-wheels.
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
cd "$ROOT"

ensure_main_venv
echo ">> leg 1: bpy 5.0.1 + torch (Python 3.11)"
"$MAIN_VENV/bin/python" -m pytest "$@"

if [ "${GSE_SKIP_BPY42:-0}" != "1" ]; then
    ensure_bpy42_venv
    echo ">> leg 2: bpy 4.2.23 (Python 3.11), Blender-facing tests without torch"
    "$BPY42_VENV/bin/python" -m pytest tests/blender -m "not needs_torch" "$@"
fi

if [ "${GSE_SKIP_BPY52:-0}" != "1" ]; then
    ensure_bpy52_venv
    echo ">> leg 3: bpy 5.2.3 (Python 3.13, numpy 2), Blender-facing tests without torch"
    "$BPY52_VENV/bin/python" -m pytest tests/blender -m "not needs_torch" "$@"
fi
