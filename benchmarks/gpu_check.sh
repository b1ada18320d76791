#!/usr/bin/env bash
# The prepared device check (issue #15 item 6): on a machine with an NVIDIA GPU, from the repository root,
#
#     bash benchmarks/gpu_check.sh      # 8 minutes at most (stage limits 60+240+100+110 s); logs under $OUT
#
# 1. makes sure CuPy imports and sees the GPU: an installed CuPy (the H200 image has cupy-cuda13x), else
#    wheels carried in .whl/ (pip --no-index), else `pip install cupy-cuda12x` from the configured index;
# 2. builds the C kernels for this Python (the tests fall back to NumPy if the build fails);
# 3. runs the GPU tests: tests/gpu/ (every layer, loss, optimizer and kernel; fit, files, CLI, estimators)
#    and tests/autograd/test_gpu.py (the op table, transforms, optimizers on CuPy against NumPy);
# 4. runs the GPU benchmarks: W3x16, W2, W4, W5 against PyTorch eager CUDA (when torch sees the GPU) and
#    Levenberg-Marquardt on a 50,601-weight net with 20,000 samples (GPU, our CPU, a trainlm estimate);
# 5. prints one summary. Each stage has a time limit, so the whole stays under 8 minutes.
set -u
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
LOGDIR="${OUT:-/tmp/retrograd-gpu-check}"
mkdir -p "$LOGDIR"
LOG="$LOGDIR/gpu_check.log"
BENCH="$LOGDIR/gpu_bench.jsonl"
: > "$LOG"; : > "$BENCH"
PY="${PYTHON:-python3}"
export PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
START=$(date +%s)
say() { echo "$*" | tee -a "$LOG"; }
stage() { say ""; say "=== $1 ($(( $(date +%s) - START )) s)"; }

stage "GPU and CuPy"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | tee -a "$LOG"
have_cupy() { "$PY" -c "import cupy; assert cupy.cuda.runtime.getDeviceCount() > 0; print('cupy', cupy.__version__)" 2>>"$LOG"; }
if ! have_cupy | tee -a "$LOG"; then
    if ls .whl/cupy*.whl >/dev/null 2>&1; then
        say "installing CuPy from the carried wheels in .whl/"
        "$PY" -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl >>"$LOG" 2>&1
        export PYTHONPATH="$PYTHONPATH:/tmp/site"
    else
        say "installing cupy-cuda12x from the configured package index"
        "$PY" -m pip install -q cupy-cuda12x >>"$LOG" 2>&1
    fi
    if ! have_cupy | tee -a "$LOG"; then
        say "FAILED: no CuPy that sees a GPU; nothing else can run"
        exit 1
    fi
fi
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" 2>&1 | tee -a "$LOG"
"$PY" -c "import retrograd as rg; print('retrograd', rg.__version__, rg.__file__, 'gpu_available', rg.gpu_available())" \
    2>&1 | tee -a "$LOG"

stage "build the C kernels for this Python"
timeout 60 "$PY" setup.py build_ext --inplace -q >>"$LOG" 2>&1 && say "built" || say "build failed: NumPy fallbacks"

stage "GPU tests"
timeout 240 "$PY" -m pytest tests/gpu tests/autograd/test_gpu.py -q -p no:cacheprovider --maxfail=30 \
    -o addopts="" --durations=10 2>&1 | tee "$LOGDIR/gpu_tests.log" | tail -n 40 | tee -a "$LOG"
TESTS_RC=${PIPESTATUS[0]}
TESTS_LINE=$(grep -E "passed|failed|error" "$LOGDIR/gpu_tests.log" | tail -n 1)

stage "GPU benchmarks: W3x16, W2, W4, W5 against torch CUDA"
timeout 100 "$PY" benchmarks/bench_gpu.py --quick --out "$BENCH" 2>&1 | tee -a "$LOG" | grep -E "summary|error"
BENCH_RC=${PIPESTATUS[0]}

stage "Levenberg-Marquardt, 50,601 weights, 20,000 samples"
timeout 110 "$PY" benchmarks/bench_gpu_lm.py --cpu-limit 50 --iterations 3 --out "$BENCH" 2>&1 | tee -a "$LOG" \
    | grep -E "summary|trainlm|error"
LM_RC=${PIPESTATUS[0]}

stage "summary"
{
    echo "tests: ${TESTS_LINE:-no result} (exit $TESTS_RC)"
    for pair in "benchmarks:$BENCH_RC" "LM benchmark:$LM_RC"; do
        rc=${pair##*:}
        [ "$rc" = 124 ] && echo "${pair%%:*}: cut at the stage's time limit (the lines below are what finished)"
        [ "$rc" != 0 ] && [ "$rc" != 124 ] && echo "${pair%%:*}: exit $rc (see $LOG)"
    done
    "$PY" - "$BENCH" <<'EOF'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
for r in rows:
    if r.get("summary"):
        print(json.dumps(r))
    elif "error" in r and r.get("error"):
        print("error:", json.dumps(r))
EOF
    echo "total: $(( $(date +%s) - START )) s; log: $LOG, benchmark lines: $BENCH, test log: $LOGDIR/gpu_tests.log"
} | tee -a "$LOG"
exit "$TESTS_RC"
