#!/usr/bin/env bash
# Everything that needs a CUDA GPU, from the repository root, one step per call:
#
#   benchmarks/gpu_suite.sh tests    # GPU test suite: compiled kernel vs reference, fp32/bf16/fp16
#   benchmarks/gpu_suite.sh kernel   # micro-benchmark: fused vs eager vs torch.compile (fp32, bf16)
#   benchmarks/gpu_suite.sh e2e      # MedFuseClassifier on P12, kernel="triton" vs "torch", 3 seeds
#   benchmarks/gpu_suite.sh all      # the three in a row
#
# Results go to $OUT (default benchmarks/results): JSON and PNG named after the device.
# Needs torch, triton, numpy, pandas, scikit-learn, pytest-benchmark and matplotlib; skorch and
# any other missing package can come as wheels in .whl/ (installed into /tmp/site, no network).
# P12 data for e2e: $MEDFUSE_P12_DIR, else .p12/ in the repository root, else ../shared/data.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/results}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1

if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
if ! python3 -c "import medfuse_sk.kernels" 2>/dev/null; then
    python3 -m pip install -q --no-deps --no-build-isolation --no-cache-dir --target /tmp/medfuse .
    export PYTHONPATH=/tmp/medfuse:${PYTHONPATH:-}
fi
if [ -z "${MEDFUSE_P12_DIR:-}" ] && [ -d .p12 ]; then export MEDFUSE_P12_DIR=$PWD/.p12; fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"

step_tests() {
    python3 -m pytest -q -o addopts="" -m gpu tests/kernels/test_kernels_gpu.py \
        --junitxml="$OUT/gpu_tests.xml" 2>&1 | tee "$OUT/gpu_tests.txt"
    python3 -m pytest -q -o addopts="" tests/kernels/test_kernels.py 2>&1 | tee -a "$OUT/gpu_tests.txt"
}
step_kernel() {
    python3 benchmarks/bench_kernel.py --out "$OUT"
    python3 benchmarks/bench_kernel.py --out "$OUT" --dtype bf16 --providers triton eager
    python3 -m pytest -q -o addopts="" benchmarks/test_bench_kernel.py --benchmark-only \
        --benchmark-json="$OUT/kernel_pytest_benchmark.json"
}
step_e2e() {
    python3 benchmarks/gpu_end_to_end.py --out "$OUT"
}

case "${1:-all}" in
    tests) step_tests ;;
    kernel) step_kernel ;;
    e2e) step_e2e ;;
    all) step_tests; step_kernel; step_e2e ;;
    *) echo "usage: $0 tests|kernel|e2e|all" >&2; exit 2 ;;
esac
