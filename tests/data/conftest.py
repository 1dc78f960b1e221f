"""Fixtures for the event-data tests: fake datasets in tonic's formats and the real N-MNIST files."""

from __future__ import annotations

from pathlib import Path

import pytest

from snn2hw.data.fake import write_fake_cifar10_dvs, write_fake_dvs_gesture

REPO = Path(__file__).resolve().parents[2]
NMNIST_DIR = REPO.parent / "shared" / "data" / "nmnist_small"


@pytest.fixture(scope="session")
def nmnist_dir() -> Path:
    """The real N-MNIST subset in ../shared/data (skips when this checkout has no shared/ beside it)."""
    if not NMNIST_DIR.is_dir():
        pytest.skip(f"needs the real N-MNIST files at {NMNIST_DIR} (shared/ is not beside this repo)")
    return NMNIST_DIR


@pytest.fixture(scope="session")
def fake_gesture(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    root = tmp_path_factory.mktemp("gesture")
    return root, write_fake_dvs_gesture(root, train_users=(1, 2), test_users=(24,))


@pytest.fixture(scope="session")
def fake_cifar(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    root = tmp_path_factory.mktemp("cifar")
    return root, write_fake_cifar10_dvs(root, per_class=10)
