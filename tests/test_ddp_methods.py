"""Every method's trainable parts stay in step under torchrun (2 CPU processes, gloo).

After 2 steps the student AND the method's parts (KDSNN connectors, SASTC projectors and
query/key MLPs, ...) are identical on both ranks, although rank 1 started with perturbed method
parts, and equal to one process trained on the same global batches (each batch's two rank
halves backpropagated with weight 1/2: what data-parallel training computes). The comparison
with one process covers parameters only: BN running statistics follow each rank's half batch
(ranks take rank 0's after every epoch), and sastc/ckdsnn couple the instances of a batch
(similarity matrices, a batch-wide min-max), so for them one process with the full batch in
one piece is not the same computation as two ranks with half batches.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

METHODS = ["kd", "kdsnn", "kdsnn-feature", "sastc", "ckdsnn", "idsnn"]
DRIVER = Path(__file__).with_name("ddp_methods_driver.py")


@pytest.fixture(scope="module")
def ddp_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp-methods")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         str(DRIVER), str(out), *METHODS],
        capture_output=True, text=True, timeout=600, env=env, cwd=DRIVER.parents[1],
    )
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return out


def _load(path: Path) -> dict:
    return torch.load(path, weights_only=True)


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_ranks_hold_identical_student_and_method_parts(ddp_results, method):
    r0, r1 = (_load(ddp_results / f"{method}-rank{r}.pt") for r in (0, 1))
    for part in ("student", "method"):
        assert r0[part].keys() == r1[part].keys()
        for k, v in r0[part].items():
            assert torch.equal(v, r1[part][k]), f"{method} {part} {k} differs between ranks"
    if method in ("kdsnn-feature", "sastc"):
        assert r0["method"], f"{method} should own trainable parts"


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_ddp_equals_one_process_on_the_same_global_batches(ddp_results, method):
    ddp, ref = _load(ddp_results / f"{method}-rank0.pt"), _load(ddp_results / f"{method}-ref.pt")
    for part in ("student", "method"):
        for k, v in ref[part].items():
            if "running_" in k or "num_batches" in k:
                continue  # BN statistics: see the module docstring
            torch.testing.assert_close(ddp[part][k], v, rtol=1e-4, atol=1e-5,
                                       msg=lambda m, k=k, part=part: f"{method} {part} {k}: {m}")
