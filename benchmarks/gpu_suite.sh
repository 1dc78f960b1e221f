#!/bin/bash
# The GPU suite in one command, for a bare GPU machine (Python 3.12 + torch + triton, no network):
#   bash benchmarks/gpu_suite.sh            # from the repo root; writes $OUT/gpu_suite.json
# Peers' wheels travel in .whl/ (make them here first: bash benchmarks/fetch_gpu_wheels.sh; ~3 MB,
# carried with the working tree); a peer whose wheel is absent is recorded as skipped.
# Steps: install the carried wheels into /tmp/site, run the GPU tests (triton kernel vs fused,
# CUDA-graph step vs eager), then benchmarks/gpu_suite.py (snn2hw variants, peers, emulator).
# Total under 8 minutes: the tests get 90 s, the suite 370 s (it budgets its own sections).
set -u
OUT=${OUT:-/tmp/gpu_suite_out}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if ls .whl/*.whl > /dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl > "$OUT/pip.log" 2>&1 || echo "wheel install failed: see pip.log"
  export PYTHONPATH="$PYTHONPATH:/tmp/site"
else
  echo "no .whl/ folder: peers other than the plain-PyTorch ones will be recorded as missing"
fi
nvidia-smi -L 2>/dev/null || echo "nvidia-smi: none"
timeout 90 python3 -m pytest tests/test_triton_lif.py tests/test_train_step.py -m gpu -q \
  -p no:cacheprovider -o addopts="" > "$OUT/gpu_tests.log" 2>&1
echo "gpu tests rc=$? ($(tail -1 "$OUT/gpu_tests.log"))"
timeout 380 python3 benchmarks/gpu_suite.py --out "$OUT/gpu_suite.json" --budget-s 370 \
  --tests-log "$OUT/gpu_tests.log" "$@" 2>&1 | tee "$OUT/gpu_suite.log"
echo "suite rc=${PIPESTATUS[0]}"
