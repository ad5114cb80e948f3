#!/usr/bin/env bash
# A fit beside a busy two-process neighbour: one test that fits GRU-D (PyPOTS) on the bundled
# sample, alone and beside two one-thread torch processes (as `medfuse p12`'s two workers), with
# torch's default threads, OMP_WAIT_POLICY=PASSIVE, GOMP_SPINCOUNT=10000 and one thread.
# Usage: bash benchmarks/neighbour_probe.sh   (from the repository root, virtualenv active)
set -u
TEST="tests/models/test_grud.py::test_fits_on_events_as_every_model_does"
BUSY='import sys,time,torch; torch.set_num_threads(1); a=torch.randn(256,256); end=time.time()+float(sys.argv[1])
while time.time()<end: (a@a).sum()'
run() {  # $1 label, rest: env assignments
    local label=$1; shift
    local start=$(date +%s.%N)
    env "$@" pytest -q -p no:cacheprovider "$TEST" > /dev/null 2>&1
    echo "$label: $(echo "$(date +%s.%N) - $start" | bc) s"
}
for setting in "default" "OMP_WAIT_POLICY=PASSIVE" "GOMP_SPINCOUNT=10000" "OMP_NUM_THREADS=1"; do
    env_args=(); [ "$setting" != default ] && env_args=("$setting")
    run "alone   $setting" "${env_args[@]}"
    python -c "$BUSY" 400 & b1=$!; python -c "$BUSY" 400 & b2=$!
    sleep 2
    run "beside  $setting" "${env_args[@]}"
    kill $b1 $b2 2>/dev/null; wait $b1 $b2 2>/dev/null
done
