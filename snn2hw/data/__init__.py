"""Dataset registry: name -> loader(data_root, download) -> DatasetBundle."""

from __future__ import annotations

from functools import partial
from typing import Callable

from snn2hw.data.base import DatasetBundle
from snn2hw.data.static import load_cifar, load_digits
from snn2hw.errors import ConfigError

DATASETS: dict[str, Callable[[str, bool], DatasetBundle]] = {
    "digits": load_digits,
    "cifar10": partial(load_cifar, "cifar10"),
    "cifar100": partial(load_cifar, "cifar100"),
}


def load_dataset(name: str, data_root: str, download: bool = False) -> DatasetBundle:
    """Load a registered dataset; unknown names raise a ConfigError listing the choices."""
    if name not in DATASETS:
        raise ConfigError(
            f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)} (option --dataset)"
        )
    return DATASETS[name](data_root, download)


__all__ = ["DATASETS", "DatasetBundle", "load_dataset"]
