"""Dataset registry: name -> loader(data_root, download[, options]) -> DatasetBundle."""

from __future__ import annotations

from functools import partial
from typing import Callable

from snn2hw.data.base import DatasetBundle
from snn2hw.data.events import EVENT_LOADERS, EventOptions
from snn2hw.data.static import load_cifar, load_digits
from snn2hw.data.synthetic import EVENT_LIKE, STATIC_LIKE, load_fake_events, load_fake_static
from snn2hw.errors import ConfigError

DATASETS: dict[str, Callable[..., DatasetBundle]] = {
    "digits": load_digits,
    "cifar10": partial(load_cifar, "cifar10"),
    "cifar100": partial(load_cifar, "cifar100"),
    **EVENT_LOADERS,
    # Random tensors shaped like a real dataset (snn2hw.data.synthetic): smoke tests, dry runs.
    **{f"fake-{k}": partial(load_fake_static, k) for k in STATIC_LIKE},
    **{f"fake-{k}": partial(load_fake_events, k) for k in EVENT_LIKE},
}
EVENT_DATASETS = frozenset(EVENT_LOADERS) | frozenset(f"fake-{k}" for k in EVENT_LIKE)


def load_dataset(name: str, data_root: str, download: bool = False,
                 options: EventOptions | None = None) -> DatasetBundle:
    """Load a registered dataset; unknown names raise a ConfigError listing the choices.

    `options` (frames, augmentation, split, cache) apply to event datasets only; non-default
    ones given with a static dataset raise a ConfigError rather than being ignored.
    """
    if name not in DATASETS:
        raise ConfigError(
            f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)} (option --dataset)"
        )
    if name in EVENT_DATASETS:
        return DATASETS[name](data_root, download, options)
    if options is not None:
        _reject_event_options(name, options)
    return DATASETS[name](data_root, download)


def _reject_event_options(name: str, options: EventOptions) -> None:
    default = EventOptions()
    flags = {"frame_size": "--frame-size", "denoise_us": "--denoise-us", "augment": "--augment",
             "split": "--split"}
    for key, flag in flags.items():
        if getattr(options, key) != getattr(default, key):
            raise ConfigError(
                f"data.{key} ({flag}) applies to event datasets ({', '.join(sorted(EVENT_DATASETS))}), "
                f"not to {name}; drop it or choose an event dataset with --dataset"
            )


__all__ = ["DATASETS", "EVENT_DATASETS", "DatasetBundle", "EventOptions", "load_dataset"]
