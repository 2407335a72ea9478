#!/usr/bin/env bash
# The GPU checks of issues 2-6 as one prepared script, for a session that is lent a GPU machine
# (the `device` tool: one H100/H200, about 15 minutes of device time in all, at most 10 minutes
# a command). Nothing here has been run yet: no session so far was lent a GPU.
#
# Before the first call, copy the reference data into the checkout (../shared does not travel;
# a folder named shared/ inside the checkout does, ignored by git):
#     mkdir -p shared/data/images && cp -r ../shared/data/{crf,moire,weights,README.md} shared/data/ \
#       && cp -r ../shared/data/images/{Set5,Set12,Set14} shared/data/images/
# Then, one device call each (PART is `checks`, about 4 minutes, or `demo`, about 8):
#     bash benchmarks/gpu_session.sh checks      # pytest -m gpu + every GPU benchmark row
#     bash benchmarks/gpu_session.sh demo        # DM-Net sim-to-real on moiré (issue 6)
# Logs and results land in $OUT (or ./gpu-out) and come back with the call.
set -uo pipefail
cd "$(dirname "$0")/.."
PART=${1:-checks}
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
# tests and benchmarks read ../shared/data beside the checkout
if [ -d shared/data ] && [ ! -e ../shared ]; then ln -s "$PWD/shared" ../shared; fi
[ -f ../shared/data/crf/dorfCurves.txt ] && export IMGRESTORE_CRF=$PWD/../shared/data/crf/dorfCurves.txt
python -m pip install -q --no-deps --no-build-isolation -e . >"$OUT/install.log" 2>&1 || { cat "$OUT/install.log"; exit 1; }
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,clocks.max.mem --format=csv | tee "$OUT/gpu.txt"

step() {  # step NAME SECONDS COMMAND...: run with a time limit, log to $OUT/NAME.log, keep going
  local name=$1 limit=$2; shift 2
  echo "== $name: $*"
  local t0=$SECONDS
  timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  tail -n 25 "$OUT/$name.log"
  echo "== $name: exit $rc after $((SECONDS - t0)) s"
}

case "$PART" in
  checks)
    step gpu_tests 240 python -m pytest -m gpu -q -rs
    step bench_bicubic 60 imgrestore bench degrade bicubic --device cuda
    step bench_cbdnet 60 imgrestore bench degrade cbdnet --device cuda
    step bench_moire 60 imgrestore bench degrade moire --device cuda
    step bench_net 90 imgrestore bench net dncnn-b --device cuda --precision bf16
    step bench_train 90 python benchmarks/bench_train.py --device cuda --iters 40 --batch 64 --patch 64
    ;;
  demo)
    # results to /tmp (its runs/ subfolder holds more files than a call brings back), then the
    # table, JSON and the two figures into $OUT
    step sim2real_moire 540 python benchmarks/sim2real_moire.py --device cuda --out /tmp/sim2real_moire
    cp /tmp/sim2real_moire/results.{md,json} /tmp/sim2real_moire/real_{domain,photos}.png "$OUT"/ 2>/dev/null
    ;;
  *)
    echo "gpu_session.sh: unknown part '$PART'; expected checks or demo" >&2
    exit 2
    ;;
esac
