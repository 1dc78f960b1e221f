"""DatasetBundle: a train/test pair with the shape and class count that models are built for."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.data import Dataset, Subset


@dataclass
class DatasetBundle:
    name: str
    train: Dataset
    test: Dataset
    in_shape: tuple[int, ...]
    """Shape of one sample without batch (and without time for event frames)."""
    num_classes: int

    def limited(self, train_subset: int | None, test_subset: int | None, seed: int) -> DatasetBundle:
        """A seeded random subset of each split (for quick runs); None keeps a split whole."""
        g = torch.Generator().manual_seed(seed)

        def cut(ds: Dataset, n: int | None) -> Dataset:
            if n is None or n >= len(ds):  # type: ignore[arg-type]
                return ds
            return Subset(ds, torch.randperm(len(ds), generator=g)[:n].tolist())  # type: ignore[arg-type]

        return DatasetBundle(self.name, cut(self.train, train_subset), cut(self.test, test_subset),
                             self.in_shape, self.num_classes)
