#!/bin/bash
# Make .whl/ (git-ignored) with the peers' Python 3.12 wheels for benchmarks/gpu_suite.sh:
# norse 1.1.0 (built from its sdist: PyPI has no wheel), snnTorch 1.0.0, SpikingJelly 2.0.0 and
# the packages they need that the GPU image lacks (nir, nirtorch, loguru, SciencePlots). ~3 MB.
# Run here, where PyPI is reachable; then carry ".whl" in the device run.
set -eu
mkdir -p .whl
PIP="python3 -m pip"
$PIP download --no-deps -d .whl snntorch==1.0.0 spikingjelly==2.0.0 nir==1.0.8 nirtorch==2.6 \
  loguru==0.7.3 scienceplots==2.2.2
$PIP download --no-deps --no-binary=:all: -d /tmp/norse_sdist norse==1.1.0
$PIP wheel --no-deps -w .whl /tmp/norse_sdist/norse-1.1.0.tar.gz
ls -la .whl; du -sh .whl
