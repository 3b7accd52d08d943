# Sourced by scripts/demo.sh and scripts/test.sh: create or reuse the local virtual environments.
# Idempotent: an environment is rebuilt only when the files that define it change (a stamp holds
# their hash), so a second call takes seconds.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MAIN_VENV="$ROOT/.venv"
BPY42_VENV="$ROOT/.venv-bpy42"
BPY52_VENV="$ROOT/.venv-bpy52"

find_python311() {
    local candidate
    for candidate in "${PYTHON:-}" python3.11 python3; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return
        fi
    done
    echo "error: Python 3.11 is required (bpy 5.0 wheels exist for 3.11 only); set PYTHON=/path/to/python3.11" >&2
    exit 1
}

# Blender 5.1+ ships Python 3.13 (bpy 5.2.3 on PyPI is cp313 only). These machines have it through
# pyenv (3.13.0, part of the machine image); PYTHON313 overrides. If it is missing, pyenv is asked
# to install it (that needs python.org, which not every machine reaches).
find_python313() {
    local candidate
    for candidate in "${PYTHON313:-}" python3.13 "$(command -v pyenv >/dev/null 2>&1 && pyenv root)/versions/3.13.0/bin/python3.13"; do
        [ -n "$candidate" ] || continue
        if PYENV_VERSION=3.13.0 "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' >/dev/null 2>&1; then
            echo "$candidate"
            return
        fi
    done
    if command -v pyenv >/dev/null 2>&1 && pyenv install --skip-existing 3.13.0 >&2; then
        echo "$(pyenv root)/versions/3.13.0/bin/python3.13"
        return
    fi
    echo "error: Python 3.13 is required for the bpy 5.2 leg (Blender 5.1+ uses 3.13); install it (e.g. pyenv install" \
        "3.13.0) and set PYTHON313=/path/to/python3.13, or skip the leg with GSE_SKIP_BPY52=1" >&2
    exit 1
}

# _ensure_venv DIR STAMP_INPUTS... -- then the install commands run via "$@" after "--".
_venv_is_current() {  # DIR HASH
    [ -x "$1/bin/python" ] && [ -f "$1/.gse-stamp" ] && [ "$(cat "$1/.gse-stamp")" = "$2" ]
}

_hash_files() {
    (cd "$ROOT" && cat "$@" | sha256sum | cut -d' ' -f1)
}

ensure_main_venv() {
    local want
    want="$(_hash_files pyproject.toml constraints.txt)"
    _venv_is_current "$MAIN_VENV" "$want" && return 0
    echo ">> setting up $MAIN_VENV (torch first, then the rest under constraints.txt)" >&2
    "$(find_python311)" -m venv "$MAIN_VENV"
    "$MAIN_VENV/bin/python" -m pip install --quiet --upgrade pip
    "$MAIN_VENV/bin/python" -m pip install --quiet torch==2.13.0
    "$MAIN_VENV/bin/python" -m pip install --quiet -c "$ROOT/constraints.txt" -e "$ROOT[test]"
    echo "$want" >"$MAIN_VENV/.gse-stamp"
}

ensure_bpy42_venv() {
    local want
    want="$(_hash_files tests/requirements-bpy42.txt constraints.txt)"
    _venv_is_current "$BPY42_VENV" "$want" && return 0
    echo ">> setting up $BPY42_VENV (bpy 4.2 LTS, no torch)" >&2
    "$(find_python311)" -m venv "$BPY42_VENV"
    "$BPY42_VENV/bin/python" -m pip install --quiet --upgrade pip
    "$BPY42_VENV/bin/python" -m pip install --quiet -c "$ROOT/constraints.txt" -r "$ROOT/tests/requirements-bpy42.txt"
    echo "$want" >"$BPY42_VENV/.gse-stamp"
}

# bpy 5.2 (Python 3.13, numpy 2): the torch-free Blender leg. The package is installed without its
# dependencies (torch for 3.13 would be a multi-GB CUDA build): that checks pyproject accepts 3.13.
ensure_bpy52_venv() {
    local want python
    want="$(_hash_files pyproject.toml tests/requirements-bpy52.txt constraints-bpy52.txt)"
    _venv_is_current "$BPY52_VENV" "$want" && return 0
    echo ">> setting up $BPY52_VENV (bpy 5.2, Python 3.13, no torch)" >&2
    python="$(find_python313)"
    PYENV_VERSION=3.13.0 "$python" -m venv --clear "$BPY52_VENV"
    "$BPY52_VENV/bin/python" -m pip install --quiet --upgrade pip
    "$BPY52_VENV/bin/python" -m pip install --quiet -c "$ROOT/constraints-bpy52.txt" -r "$ROOT/tests/requirements-bpy52.txt"
    "$BPY52_VENV/bin/python" -m pip install --quiet --no-deps -e "$ROOT"
    echo "$want" >"$BPY52_VENV/.gse-stamp"
}
