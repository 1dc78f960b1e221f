"""Synthetic stand-ins for the real datasets: seeded random tensors of exactly the shape and
class count of a named dataset ("fake-cifar10" is shaped like cifar10). For smoke tests of
recipes and for checking a reproduction script end to end where the real data is absent; the
accuracy on them means nothing."""

from __future__ import annotations

import torch
from torch.utils.data import TensorDataset

from snn2hw.data.base import DatasetBundle

# name -> (sample shape without time, classes, train size, test size)
STATIC_LIKE = {"cifar10": ((3, 32, 32), 10), "cifar100": ((3, 32, 32), 100)}
EVENT_LIKE = {"dvs-gesture": (128, 11), "cifar10-dvs": (48, 10), "nmnist": (34, 10)}
TRAIN_SIZE, TEST_SIZE = 256, 64


def _bundle(name: str, shape: tuple[int, ...], classes: int, lead: tuple[int, ...], seed: int = 0,
            binary: bool = False) -> DatasetBundle:
    g = torch.Generator().manual_seed(seed)

    def split(n: int) -> TensorDataset:
        x = torch.rand(n, *lead, *shape, generator=g)
        x = (x < 0.1).float() if binary else (x - 0.5) / 0.25  # events: sparse 0/1 counts
        return TensorDataset(x, torch.randint(0, classes, (n,), generator=g))

    return DatasetBundle(name=f"fake-{name}", train=split(TRAIN_SIZE), test=split(TEST_SIZE),
                         in_shape=shape, num_classes=classes)


def load_fake_static(like: str, data_root: str, download: bool) -> DatasetBundle:
    shape, classes = STATIC_LIKE[like]
    return _bundle(like, shape, classes, ())


def load_fake_events(like: str, data_root: str, download: bool, options=None) -> DatasetBundle:
    """Frames [T, 2, S, S] with T = options.time_bins and S = options.frame_size or the default."""
    size, classes = EVENT_LIKE[like]
    t = options.time_bins if options is not None else 10
    s = (options.frame_size if options is not None else None) or size
    return _bundle(like, (2, s, s), classes, (t,), binary=True)
