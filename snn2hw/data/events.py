"""Event-camera datasets as frames [T, 2, H, W]: DVS-Gesture and CIFAR10-DVS read by tonic's own
dataset classes from a local root, N-MNIST by our decoder; frames cached on disk, TET augmentation
on the train split, an explicit seeded per-class split for CIFAR10-DVS."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from snn2hw.data.base import DatasetBundle
from snn2hw.data.cache import FrameCache, default_cache_dir, files_fingerprint
from snn2hw.data.frames import EventStats, FrameTransform, TETAugment
from snn2hw.errors import ConfigError, DataError, Snn2hwError

SPLITS = {"9:1": 0.1, "7:3": 0.3}
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EventOptions:
    """How events become training frames; set from DataConfig (see snn2hw.config)."""

    time_bins: int = 10
    """Frames per sample T (follows student.timesteps)."""
    frame_size: Optional[int] = None
    """Frame height = width in pixels; None = the dataset's default (DEFAULT_FRAME_SIZE)."""
    denoise_us: Optional[int] = None
    """tonic Denoise filter time in microseconds; None = off."""
    augment: Literal["none", "roll", "flip-roll"] = "none"
    """TET augmentation of the train split: roll = random shift; flip-roll = h-flip p=0.5 + shift."""
    max_shift: int = 5
    """Largest roll in pixels (TET uses 5 at 48x48)."""
    split: Literal["9:1", "7:3"] = "9:1"
    """CIFAR10-DVS train:test ratio, applied per class."""
    split_seed: int = 0
    """Seed of the CIFAR10-DVS split (independent of the training seed)."""
    cache: bool = True
    """Keep decoded frames on disk so that later epochs and runs do not decode again."""
    cache_dir: Optional[str] = None
    """Frame cache folder; None = <data_root>/.snn2hw-cache, or ~/.cache/snn2hw/frames if read-only."""


DEFAULT_FRAME_SIZE = {"dvs-gesture": 128, "cifar10-dvs": 48, "nmnist": 34}


class EventFrames(Dataset):
    """A split of an event dataset: source sample -> cached int16 frames -> float tensor (+ augment).

    `source` is a tonic dataset (or NMNISTFlat): .data holds file paths, .targets class indices, and
    source[i] returns (structured events, class). `indices` selects the source samples of this split.
    """

    def __init__(self, source: Any, indices: Sequence[int], transform: FrameTransform,
                 cache: FrameCache | None, augment: TETAugment | None, layout: str) -> None:
        self.source = source
        self.indices = list(indices)
        self.transform = transform
        self.cache = cache
        self.augment = augment
        self.layout = layout
        self.dropped_events = 0
        """Events dropped so far because they lay outside the sensor (in this process)."""
        self.files_with_outside = 0
        self.files_unsorted = 0

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def targets(self) -> list[int]:
        return [int(self.source.targets[j]) for j in self.indices]

    def frames(self, i: int) -> np.ndarray:
        """int16 counts [T, 2, H, W] of item i, from the cache or decoded (then cached)."""
        j = self.indices[i]
        if self.cache is not None:
            hit = self.cache.load(j)
            if hit is not None:
                return hit
        try:
            events, _ = self.source[j]
        except Snn2hwError:
            raise
        except ImportError as e:  # a reader's optional dependency, not the file, is missing
            raise DataError(
                f"reading {self.source.data[j]} needs the Python package {e.name or e} "
                f"({e}); install the project's environment with `uv sync`"
            ) from None
        except Exception as e:  # noqa: BLE001 - a reader's failure on one file: name the file, not the library
            raise DataError(
                f"cannot read event file {self.source.data[j]} ({type(e).__name__}: {e}); the file "
                f"is truncated or not in the expected format; {self.layout}"
            ) from None
        try:
            fr, stats = self.transform.with_stats(events)
        except (ValueError, TypeError, KeyError, IndexError) as e:  # e.g. a record without x/y/t/p
            raise DataError(
                f"event file {self.source.data[j]} gives events the frame builder cannot use "
                f"({type(e).__name__}: {e}); {self.layout}"
            ) from None
        self._report(j, stats)
        if self.cache is not None:
            self.cache.save(j, fr)
        return fr

    def _report(self, j: int, stats: EventStats) -> None:
        """Log repaired recordings: the first of each kind as a warning, later ones at debug."""
        if stats.outside:
            self.dropped_events += stats.outside
            self.files_with_outside += 1
            w, h, p = self.transform.sensor_size
            level = logging.WARNING if self.files_with_outside == 1 else logging.DEBUG
            log.log(level, "%s: dropped %d of %d events outside the %dx%d sensor with %d "
                    "polarities (x, y or p out of range; rule: snn2hw.data.frames.keep_inside)%s",
                    self.source.data[j], stats.outside, stats.events, w, h, p,
                    "; further files with such events are counted at debug level"
                    if level == logging.WARNING else f" ({self.dropped_events} events in "
                    f"{self.files_with_outside} files so far)")
        if stats.unsorted:
            self.files_unsorted += 1
            level = logging.WARNING if self.files_unsorted == 1 else logging.DEBUG
            log.log(level, "%s: timestamps were not in time order; sorted them (stable sort) "
                    "before binning (%d files so far)", self.source.data[j], self.files_unsorted)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        x = torch.from_numpy(self.frames(i).astype(np.float32))
        if self.augment is not None:
            x = self.augment(x)
        return x, int(self.source.targets[self.indices[i]])


def per_class_split(targets: Sequence[int], test_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Seeded split of each class separately: round(n_c * test_fraction) test items per class.

    A class with at least 2 samples keeps at least one on each side. Classes are visited in
    sorted order with one numpy Generator, so the same targets and seed
    always give the same (sorted) train and test index lists.
    """
    rng = np.random.default_rng(seed)
    y = np.asarray(targets)
    train: list[int] = []
    test: list[int] = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        perm = idx[rng.permutation(len(idx))]
        n_test = round(len(idx) * test_fraction)
        if len(idx) >= 2:  # tiny classes keep at least one sample on each side
            n_test = min(max(n_test, 1), len(idx) - 1)
        test += perm[:n_test].tolist()
        train += perm[n_test:].tolist()
    return sorted(train), sorted(test)


# ----------------------------------------------------------------------------- tonic datasets
GESTURE_LAYOUT = (
    "expected DVS-Gesture in tonic's layout: <data-root>/DVSGesture/ibmGestureTrain/user<NN>_<lighting>/"
    "<class>.npy and <data-root>/DVSGesture/ibmGestureTest/... (arrays [N, 4]: x, y, p, t in ms; "
    "class 0-10), as extracted from tonic's ibmGestureTrain.tar.gz and ibmGestureTest.tar.gz "
    "(tonic.datasets.DVSGesture(save_to=DATA_ROOT) downloads them, or add --download on a machine "
    "with network access)"
)
CIFAR_LAYOUT = (
    "expected CIFAR10-DVS in tonic's layout: <data-root>/CIFAR10DVS/<class>/*.aedat4 with the 10 "
    "class folders airplane, automobile, bird, cat, deer, dog, frog, horse, ship, truck (AEDAT 4.0 "
    "files, as extracted from tonic's CIFAR10DVS.zip and its per-class zips; "
    "tonic.datasets.CIFAR10DVS(save_to=DATA_ROOT) downloads them, or add --download on a machine "
    "with network access)"
)


def _dataset_dir(data_root: str | Path, folder: str) -> Path:
    """<data_root>/<folder>, or data_root itself when it already is that folder."""
    root = Path(data_root).expanduser()
    return root if root.name == folder and not (root / folder).is_dir() else root / folder


def check_gesture_layout(base: Path) -> None:
    """Raise DataError naming what is missing unless `base` (the DVSGesture folder) is complete."""
    for split in ("ibmGestureTrain", "ibmGestureTest"):
        d = base / split
        if not d.is_dir():
            raise DataError(f"DVS-Gesture folder {d} does not exist; {GESTURE_LAYOUT}")
        users = sorted(p for p in d.iterdir() if p.is_dir())
        if not users:
            raise DataError(f"DVS-Gesture folder {d} holds no user<NN>_<lighting> folders; {GESTURE_LAYOUT}")
        for u in users:
            if not u.name.startswith("user") or "_" not in u.name or not u.name[4:].split("_")[0].isdigit():
                raise DataError(f"unexpected folder {u} (not user<NN>_<lighting>); {GESTURE_LAYOUT}")
            files = list(u.glob("*.npy"))
            if not files:
                raise DataError(f"DVS-Gesture folder {u} holds no .npy files; {GESTURE_LAYOUT}")
            for f in files:
                if not f.stem.isdigit() or not 0 <= int(f.stem) <= 10:
                    raise DataError(f"unexpected file {f} (names must be <class 0-10>.npy); {GESTURE_LAYOUT}")


def check_cifar_layout(base: Path, classes: Sequence[str]) -> None:
    """Raise DataError naming the missing or empty class folder unless `base` is complete."""
    if not base.is_dir():
        raise DataError(f"CIFAR10-DVS folder {base} does not exist; {CIFAR_LAYOUT}")
    for c in classes:
        d = base / c
        if not d.is_dir():
            raise DataError(f"CIFAR10-DVS class folder {d} does not exist; {CIFAR_LAYOUT}")
        if not any(d.glob("*.aedat4")):
            raise DataError(f"CIFAR10-DVS class folder {d} holds no .aedat4 files; {CIFAR_LAYOUT}")
    extra = sorted(p.name for p in base.iterdir() if p.is_dir() and p.name not in classes
                   and not p.name.startswith("."))
    if extra:
        raise DataError(f"unexpected folder {base / extra[0]} in {base} (not a CIFAR10-DVS class); {CIFAR_LAYOUT}")


def _tonic_gesture(root: Path, train: bool, download: bool) -> Any:
    import tonic.datasets

    if download:
        return tonic.datasets.DVSGesture(str(root), train=train)
    from snn2hw.data.tonic_local import DVSGesture

    check_gesture_layout(root / "DVSGesture")
    return DVSGesture(str(root), train=train)


def _tonic_cifar(root: Path, download: bool) -> Any:
    import tonic.datasets

    if download:
        return tonic.datasets.CIFAR10DVS(str(root))
    from snn2hw.data.tonic_local import CIFAR10DVS

    check_cifar_layout(root / "CIFAR10DVS", list(tonic.datasets.CIFAR10DVS.classes))
    return CIFAR10DVS(str(root))


# ----------------------------------------------------------------------------- loaders
def _frame_transform(name: str, sensor: tuple[int, int, int], opts: EventOptions) -> FrameTransform:
    size = opts.frame_size or DEFAULT_FRAME_SIZE[name]
    if not 1 <= size <= sensor[0]:
        raise ConfigError(
            f"data.frame_size must be between 1 and the sensor width {sensor[0]} for {name} (got "
            f"{size}); set it with option --frame-size"
        )
    if opts.time_bins < 1:
        raise ConfigError(f"time bins must be >= 1 (got {opts.time_bins}); set option --timesteps")
    return FrameTransform(sensor_size=tuple(sensor), n_time_bins=opts.time_bins, frame_size=size,
                          denoise_us=opts.denoise_us)


def _augment(name: str, opts: EventOptions) -> TETAugment | None:
    if opts.augment == "none":
        return None
    if opts.augment == "flip-roll" and name == "dvs-gesture":
        raise ConfigError(
            "data.augment=flip-roll would mirror DVS-Gesture clips and swap its left- and right-hand "
            "classes (e.g. 'right hand wave' <-> 'left hand wave'); use --augment roll"
        )
    return TETAugment(flip=opts.augment == "flip-roll", max_shift=opts.max_shift)


def _cache(name: str, data_root: Path, source: Any, tf: FrameTransform, opts: EventOptions,
           part: str) -> FrameCache | None:
    if not opts.cache:
        return None
    base = Path(opts.cache_dir).expanduser() if opts.cache_dir else default_cache_dir(data_root)
    params = {"dataset": name, "part": part, "transform": tf.to_dict(),
              "files": files_fingerprint(source.data, data_root), "n_files": len(source.data)}
    try:
        return FrameCache(base, name, params)
    except (OSError, Snn2hwError) as e:
        raise DataError(
            f"cannot create the frame cache in {base} ({e}); pass a writable --cache-dir, or "
            "--no-cache"
        ) from None


def _bundle(name: str, parts: list[tuple[Any, Sequence[int], str]], data_root: Path,
            sensor: tuple[int, int, int], opts: EventOptions, layout: str, classes: int) -> DatasetBundle:
    tf = _frame_transform(name, sensor, opts)
    aug = _augment(name, opts)
    splits = []
    for k, (source, indices, part) in enumerate(parts):
        splits.append(EventFrames(source, indices, tf, _cache(name, data_root, source, tf, opts, part),
                                  aug if k == 0 else None, layout))
    w, h, p = tf.out_size
    return DatasetBundle(name=name, train=splits[0], test=splits[1], in_shape=(p, h, w),
                         num_classes=classes)


def load_dvs_gesture(data_root: str, download: bool = False,
                     options: EventOptions | None = None) -> DatasetBundle:
    """DVS-Gesture (11 classes, 128x128) through tonic.datasets.DVSGesture from a local root."""
    opts = options or EventOptions()
    root = _dataset_dir(data_root, "DVSGesture").parent
    train = _tonic_gesture(root, True, download)
    test = _tonic_gesture(root, False, download)
    return _bundle("dvs-gesture", [(train, range(len(train)), "train"), (test, range(len(test)), "test")],
                   root, train.sensor_size, opts, GESTURE_LAYOUT, len(train.classes))


def load_cifar10_dvs(data_root: str, download: bool = False,
                     options: EventOptions | None = None) -> DatasetBundle:
    """CIFAR10-DVS (10 classes, 128x128) through tonic.datasets.CIFAR10DVS; seeded per-class split."""
    opts = options or EventOptions()
    root = _dataset_dir(data_root, "CIFAR10DVS").parent
    source = _tonic_cifar(root, download)
    tr, te = per_class_split(source.targets, SPLITS[opts.split], opts.split_seed)
    return _bundle("cifar10-dvs", [(source, tr, "all"), (source, te, "all")], root,
                   source.sensor_size, opts, CIFAR_LAYOUT, len(source.classes))


def load_nmnist(data_root: str, download: bool = False,
                options: EventOptions | None = None) -> DatasetBundle:
    """N-MNIST (10 classes, 34x34) in slayerPytorch's flat layout, decoded by snn2hw.data.nmnist."""
    from snn2hw.data.nmnist import LAYOUT, NMNISTFlat

    if download:
        raise ConfigError("nmnist cannot be downloaded by snn2hw; drop --download and point "
                          f"--data-root at the folder; {LAYOUT}")
    opts = options or EventOptions()
    root = Path(data_root).expanduser()
    train, test = NMNISTFlat(root, True), NMNISTFlat(root, False)
    return _bundle("nmnist", [(train, range(len(train)), "train"), (test, range(len(test)), "test")],
                   root, train.sensor_size, opts, LAYOUT, 10)


EVENT_LOADERS = {"dvs-gesture": load_dvs_gesture, "cifar10-dvs": load_cifar10_dvs, "nmnist": load_nmnist}
