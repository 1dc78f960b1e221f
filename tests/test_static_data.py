"""CIFAR through torchvision's real reader, on tiny fake files in the real on-disk (pickle) format."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from snn2hw.data import load_dataset
from snn2hw.errors import DataError


def write_fake_cifar10(root, n_per_batch: int = 8) -> None:
    """cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta} as torchvision reads them."""
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8)
        labels = [i % 10 for i in range(n_per_batch)]
        with open(d / name, "wb") as f:
            pickle.dump({"data": data, "labels": labels}, f)
    with open(d / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"c{i}" for i in range(10)]}, f)


@pytest.fixture
def fake_cifar(tmp_path, monkeypatch):
    import torchvision

    write_fake_cifar10(tmp_path)
    # The fake files cannot match the official MD5 sums; everything else is torchvision's own code.
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *a, **k: True)
    return tmp_path


def test_fake_cifar10_loads_through_torchvision(fake_cifar):
    b = load_dataset("cifar10", str(fake_cifar))
    assert (len(b.train), len(b.test)) == (40, 8)
    x, y = b.test[3]
    assert x.shape == (3, 32, 32) and y == 3 and b.in_shape == (3, 32, 32) and b.num_classes == 10


def test_distill_runs_on_fake_cifar10(cli, fake_cifar, tmp_path):
    r = cli("distill", "--dataset", "cifar10", "--data-root", fake_cifar, "--runs-dir", tmp_path,
            "--name", "c", "--epochs", "1", "--teacher-epochs", "1", "--batch-size", "16",
            "--teacher-arch", "digits-cnn", "--timesteps", "2")
    assert r.exit_code == 0, r.output
    assert "snn2hw distill: cifar10" in r.output


def test_corrupt_cifar_file_is_reported(tmp_path):
    write_fake_cifar10(tmp_path)  # MD5 sums do not match the official files
    with pytest.raises(DataError, match="corrupt"):
        load_dataset("cifar10", str(tmp_path))
