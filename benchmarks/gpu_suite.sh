#!/usr/bin/env bash
# The GPU checks in one command, for a lent machine (the device tool's `run`, or any CUDA box):
#   OUT=/some/dir bash benchmarks/gpu_suite.sh
# 1. the CUDA-only kernel tests (tests/kernels: Triton causal_conv1d and ProbSparse attention against
#    their PyTorch references, forward and backward);
# 2. ProbSparse attention (Triton, the fallback, SDPA and Informer2020's algorithm) at L = 720 .. 8192;
# 3. causal_conv1d (depthwise and the dense TCN block) against cuDNN;
# 4. training throughput of zoo's Transformer and Informer at TSLib's hyperparameters: fp32, bf16 autocast,
#    bf16 + torch.compile (the embedded synthetic series: the ETTh1 file is not on a lent machine).
# It uses the machine's python3 (its torch and triton) with this checkout on PYTHONPATH, installs nothing,
# and writes 7 files under $OUT (default benchmarks/results/gpu; the device tool brings back 8 at most):
# steps.log (the environment, then every step's output) and each benchmark's .md and .json.
# A step that fails is recorded in its log and the next one still runs; the exit status is the first failure.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/results/gpu}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
status=0
LOG="$OUT/steps.log"
step() {  # step NAME COMMAND...: run it, append its output to $LOG, remember the first failure
    local name=$1
    shift
    echo "== $name: $*" | tee -a "$LOG"
    "$@" >>"$LOG" 2>&1
    local rc=$?
    echo "== $name: exit $rc" >>"$LOG"
    echo "   exit $rc"
    if [ "$rc" -ne 0 ] && [ "$status" -eq 0 ]; then status=$rc; fi
}
{
    date -u
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
    "$PY" -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, 'cuda', torch.version.cuda)"
} >"$LOG" 2>&1
step kernel_tests "$PY" -m pytest -q -rs -p no:cacheprovider tests/kernels
step probsparse "$PY" benchmarks/probsparse_attention.py --device cuda --lengths 720 2048 4096 8192 \
    --causal both --out "$OUT/probsparse_attention_cuda"
step causal_conv1d "$PY" benchmarks/causal_conv1d.py --device cuda --out "$OUT/causal_conv1d_cuda"
step train_throughput "$PY" benchmarks/train_step_vs_tslib.py --device cuda --dataset synthetic \
    --rounds 5 --steps 8 --out "$OUT/train_step_cuda"
exit "$status"
