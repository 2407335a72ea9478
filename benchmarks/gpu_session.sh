#!/usr/bin/env bash
# The GPU checks of issues 2-6 as one prepared script, for a session that is lent a GPU machine
# (the `device` tool: one H100/H200, about 15 minutes of device time in all, at most 10 minutes
# a command). Nothing here has been run yet: no session so far was lent a GPU.
#
# Before the first call, copy the reference data into the checkout (../shared does not travel;
# a folder named shared/ inside the checkout does, ignored by git):
#     mkdir -p shared/data/images && cp -r ../shared/data/{crf,moire,weights,README.md} shared/data/ \
#       && cp -r ../shared/data/images/{Set5,Set12,Set14} shared/data/images/
# Then, one device call each (PART is `checks`, at most 8 minutes, or `demo`, about 8):
#     bash benchmarks/gpu_session.sh checks      # pytest -m gpu + every GPU benchmark, then the goal table
#     bash benchmarks/gpu_session.sh demo        # DM-Net sim-to-real on moiré (issue 6)
#     bash benchmarks/gpu_session.sh dry         # the checks' benchmarks on the CPU at toy sizes (no GPU)
# Logs and results land in $OUT (or ./gpu-out) and come back with the call: one log per step,
# json/*.json (one per benchmark) and the goals of issue 11 as goals.md and goals.json (see
# docs/benchmarks.md). Each step has a time limit, cut so that `checks` ends within 8 minutes.
set -uo pipefail
cd "$(dirname "$0")/.."
PART=${1:-checks}
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
# tests and benchmarks read ../shared/data beside the checkout
if [ -d shared/data ] && [ ! -e ../shared ]; then ln -s "$PWD/shared" ../shared; fi
[ -f ../shared/data/crf/dorfCurves.txt ] && export IMGRESTORE_CRF=$PWD/../shared/data/crf/dorfCurves.txt
if [ "$PART" != dry ]; then
  python -m pip install -q --no-deps --no-build-isolation -e . >"$OUT/install.log" 2>&1 || { cat "$OUT/install.log"; exit 1; }
  nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,clocks.max.mem --format=csv | tee "$OUT/gpu.txt"
  DEADLINE=${BUDGET_S:-470}  # bash's SECONDS count from the start: `checks` ends within 8 minutes, table included
else
  DEADLINE=${BUDGET_S:-3600}
fi

step() {  # step NAME SECONDS COMMAND...: run with a time limit (cut to the deadline), log to $OUT/NAME.log
  local name=$1 limit=$2; shift 2
  local left=$((DEADLINE - SECONDS - 10))
  if [ "$left" -lt "$limit" ]; then limit=$left; fi
  if [ "$limit" -lt 5 ]; then echo "== $name: skipped (the session's 8 minutes are spent)"; return; fi
  echo "== $name: $*"
  local t0=$SECONDS
  timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  tail -n 25 "$OUT/$name.log"
  echo "== $name: exit $rc after $((SECONDS - t0)) s (limit $limit s)"
}

J=$OUT/json  # one JSON file per benchmark; benchmarks/gpu_summary.py turns them into the goal table
mkdir -p "$J"
summary() {  # summary DEVICE NET_SIZE
  echo "== goals of issue 11 (JSON: $OUT/goals.json)"
  python benchmarks/gpu_summary.py "$J" --device "$1" --net-size "$2" --out "$OUT/goals.json" | tee "$OUT/goals.md"
}

case "$PART" in
  checks)
    step gpu_tests 120 python -m pytest -m gpu -q -rs
    step bench_bicubic 25 imgrestore bench degrade bicubic --device cuda --repeats 3 --save "$J/degrade_bicubic.json"
    step bench_awgn 15 imgrestore bench degrade awgn --device cuda --repeats 3 --save "$J/degrade_awgn.json"
    step bench_jpeg 25 imgrestore bench degrade jpeg --device cuda --repeats 3 --save "$J/degrade_jpeg.json"
    step bench_cbdnet 35 imgrestore bench degrade cbdnet --device cuda --repeats 3 --save "$J/degrade_cbdnet.json"
    step bench_moire 50 imgrestore bench degrade moire --device cuda --repeats 3 --save "$J/degrade_moire.json"
    step bench_net 75 imgrestore bench net dncnn-b --sizes 512 --batch 1 --device cuda --precision bf16 \
      --compile --cuda-graphs --max-time 2 --save "$J/net_dncnn-b.json"
    step train_dncnn 45 python benchmarks/bench_train.py --plugin dncnn-s --device cuda --iters 80 --warmup 20 \
      --batch 64 --patch 64 --workers 4 --stage2-iters 0 --no-disk --save "$J/train_dncnn.json"
    step train_dmnet 60 python benchmarks/bench_train.py --plugin dmnet --degrade moire --device cuda --iters 50 \
      --warmup 15 --batch 16 --patch 256 --workers 0 --stage2-iters 0 --no-disk --save "$J/train_dmnet.json"
    summary cuda 512
    ;;
  dry)
    # the same steps on the CPU at toy sizes: checks the script, the --save files and the summary
    # here (no GPU); the numbers mean nothing for the goals
    step bench_bicubic 120 imgrestore bench degrade bicubic --device cpu --size 256 --repeats 1 --save "$J/degrade_bicubic.json"
    step bench_awgn 120 imgrestore bench degrade awgn --device cpu --size 64 --repeats 1 --save "$J/degrade_awgn.json"
    step bench_jpeg 120 imgrestore bench degrade jpeg --device cpu --size 64 --repeats 1 --save "$J/degrade_jpeg.json"
    step bench_cbdnet 120 imgrestore bench degrade cbdnet --device cpu --size 64 --repeats 1 --save "$J/degrade_cbdnet.json"
    step bench_moire 240 imgrestore bench degrade moire --device cpu --size 32 --repeats 1 --save "$J/degrade_moire.json"
    step bench_net 180 imgrestore bench net dncnn-b --sizes 96 --batch 1 --device cpu --precision bf16 --repeats 1 \
      --max-time 1 --save "$J/net_dncnn-b.json"
    step train_dncnn 300 python benchmarks/bench_train.py --plugin dncnn-s --net-config depth=5 --device cpu --iters 12 \
      --warmup 4 --batch 8 --patch 32 --workers 0 --stage2-iters 0 --no-disk --save "$J/train_dncnn.json"
    step train_dmnet 400 python benchmarks/bench_train.py --plugin dmnet --degrade moire --device cpu --iters 8 \
      --warmup 3 --batch 2 --patch 64 --workers 0 --stage2-iters 0 --no-disk --save "$J/train_dmnet.json"
    summary cpu 96
    ;;
  demo)
    # results to /tmp (its runs/ subfolder holds more files than a call brings back), then the
    # table, JSON and the two figures into $OUT
    step sim2real_moire 540 python benchmarks/sim2real_moire.py --device cuda --out /tmp/sim2real_moire
    cp /tmp/sim2real_moire/results.{md,json} /tmp/sim2real_moire/real_{domain,photos}.png "$OUT"/ 2>/dev/null
    ;;
  *)
    echo "gpu_session.sh: unknown part '$PART'; expected checks, demo or dry" >&2
    exit 2
    ;;
esac
