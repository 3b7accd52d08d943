#!/usr/bin/env bash
# One GPU check in one device call (< 10 minutes on an H100/H200 machine): build gsplat's CUDA
# kernels once, run the CUDA tests (parity of gsplat and the torch reference, the gsplat fallback
# on CUDA, the CUDA paths of the enhancer, refine and stylize), time the fallback against gsplat,
# run the full-size pipeline benchmark, and print what docs/benchmarks.md needs.
#
#   scripts/gpu_check.sh --prepare   # here (PyPI reachable): download the cp312 wheels the GPU
#                                    # machine lacks into .whl/ (tests/requirements-gpu.txt)
#   scripts/gpu_check.sh --dry-run   # here (CPU, GSE_PYTHON or .venv): check the wheels install for Python 3.12, the
#                                    # CUDA tests collect, the scripts parse; print the plan
#   scripts/gpu_check.sh             # on the GPU machine, in one call with `.whl` carried
#
# Results go to $OUT when set (the device tool's folder), else outputs/gpu_check/; the benchmark
# JSON also to docs/bench/. Each step has a time limit so the whole stays inside one call.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
MODE="${1:-run}"
WHEELS="${GSE_GPU_WHEELS:-$ROOT/.whl}"
REQS="$ROOT/tests/requirements-gpu.txt"
RESULTS="${OUT:-$ROOT/outputs/gpu_check}"
BUDGET_S="${GSE_GPU_BUDGET_S:-570}"  # the whole run; a device call allows 600 s
START=$(date +%s)
mkdir -p "$RESULTS"

pins() { grep -v '^\s*#' "$REQS" | sed '/^\s*$/d'; }

# Every pin has exactly one wheel in $WHEELS (pip needs no index then).
check_wheels() {
    local missing=0 pin name version count
    while read -r pin; do
        name="${pin%%==*}"; version="${pin##*==}"
        count=$(find "$WHEELS" -maxdepth 1 -iname "$(echo "$name" | tr '-' '_')-${version}-*.whl" 2>/dev/null | wc -l)
        if [ "$count" != "1" ]; then echo "missing wheel: $pin (found $count)"; missing=1; fi
    done < <(pins)
    [ "$missing" = 0 ] || { echo "run scripts/gpu_check.sh --prepare where PyPI is reachable"; return 1; }
    echo "wheels: $(pins | wc -l) pinned, all present in $WHEELS"
}

left() { echo $((BUDGET_S - ($(date +%s) - START))); }

step() {  # step NAME SECONDS COMMAND...: run with a limit taken from what is left
    local name="$1" want="$2"; shift 2
    local limit; limit=$(left); [ "$want" -lt "$limit" ] && limit="$want"
    if [ "$limit" -le 5 ]; then echo "== $name: SKIPPED (no time left)"; return 1; fi
    echo "== $name (limit ${limit}s)"
    local t0; t0=$(date +%s)
    timeout "$limit" "$@" 2>&1 | tee "$RESULTS/$name.log"
    local rc=${PIPESTATUS[0]}
    echo "== $name: rc=$rc in $(( $(date +%s) - t0 ))s"
    return "$rc"
}

case "$MODE" in
--prepare)
    mkdir -p "$WHEELS"
    PIP_FIND_LINKS=" " python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --abi cp312 --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux_2_5_x86_64 \
        --platform manylinux1_x86_64 -d "$WHEELS" -r "$REQS" || exit 1
    check_wheels || exit 1
    du -sh "$WHEELS"
    exit 0
    ;;
--dry-run)
    PY="${GSE_PYTHON:-$ROOT/.venv/bin/python}"  # the project environment (pytest, torch)
    PY312="${PYTHON312:-python3.12}"
    fail=0
    check_wheels || { echo "dry run: FAILED"; exit 1; }
    site="$(mktemp -d)"  # the carried wheels install offline for Python 3.12, as on the GPU machine
    PYENV_VERSION=3.12.1 "$PY312" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
        --target "$site" "$WHEELS"/*.whl && echo "wheels install offline for $(PYENV_VERSION=3.12.1 "$PY312" -V)" || fail=1
    rm -rf "$site"
    n=$("$PY" -m pytest tests/core -m cuda --collect-only -q -p no:cacheprovider 2>/dev/null | grep -c '::') || true
    echo "CUDA tests collected: $n"; [ "$n" -gt 0 ] || fail=1
    "$PY" bench/pipeline.py --help >/dev/null && "$PY" bench/bench_fallback.py --help >/dev/null || fail=1
    "$PY" -m pytest -q -p no:cacheprovider tests/core/test_render_fallback.py || fail=1
    echo "plan on the GPU machine (budget ${BUDGET_S}s): install wheels, build gsplat kernels, pytest -m cuda," \
         "bench/bench_fallback.py, bench/pipeline.py --size full --json docs/bench/pipeline-full-<gpu>.json"
    [ "$fail" = 0 ] && echo "dry run: OK" || echo "dry run: FAILED"
    exit "$fail"
    ;;
run) ;;
*) echo "usage: scripts/gpu_check.sh [--prepare|--dry-run]" >&2; exit 2 ;;
esac

# --- on the GPU machine --------------------------------------------------------------------
status=0
check_wheels || exit 1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/gse-site \
    "$WHEELS"/*.whl || exit 1
export PYTHONPATH="/tmp/gse-site:$ROOT" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
# gsplat's JIT build: this GPU's architecture only, all cores, one build folder for every step.
export TORCH_EXTENSIONS_DIR="$ROOT/.cache/torch_extensions" MAX_JOBS="$(nproc)"
export TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-$(python3 -c 'import torch; print("%d.%d" % torch.cuda.get_device_capability())')}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$RESULTS/machine.txt"
python3 -c 'import sys, torch, diffusers, transformers, gsplat, open_clip; print("python", sys.version.split()[0], "torch", torch.__version__, "diffusers", diffusers.__version__, "transformers", transformers.__version__, "gsplat", gsplat.__version__, "open_clip", open_clip.__version__)' | tee -a "$RESULTS/machine.txt"
nproc | sed 's/^/cpu cores: /' | tee -a "$RESULTS/machine.txt"

step gsplat_build 300 python3 -c '
import time; t = time.time()
from gsplat.cuda._backend import _C
assert _C is not None, "no kernels"
print(f"gsplat kernels ready in {time.time() - t:.1f} s")' || status=1
step cuda_tests 150 python3 -m pytest -m cuda -q -s -p no:cacheprovider -rs || status=1
step fallback_bench 60 python3 bench/bench_fallback.py --repeats 5 --json "$RESULTS/fallback.json" || status=1
GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | tr -cs 'A-Za-z0-9' '-' | tr 'A-Z' 'a-z' | sed 's/-$//')
JSON="docs/bench/pipeline-full-${GPU:-gpu}.json"
step pipeline_full 480 python3 bench/pipeline.py --size full --repeats 3 --json "$JSON" || status=1
[ -f "$JSON" ] && cp "$JSON" "$RESULTS/"

echo
echo "================ for docs/benchmarks.md ($(date -u +%Y-%m-%d), $(head -1 "$RESULTS/machine.txt")) ================"
cat "$RESULTS/machine.txt"
grep -h "kernels ready" "$RESULTS/gsplat_build.log" 2>/dev/null
grep -hE "PSNR|grad |passed|failed|SKIPPED" "$RESULTS/cuda_tests.log" 2>/dev/null
grep -hE "Gaussians|H200|H100|median" "$RESULTS/fallback_bench.log" 2>/dev/null
[ -f "$JSON" ] && echo "pipeline JSON: $JSON" && tail -40 "$RESULTS/pipeline_full.log"
echo "total $(( $(date +%s) - START )) s; status $status"
exit "$status"
