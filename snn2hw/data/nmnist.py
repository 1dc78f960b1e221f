"""N-MNIST in slayerPytorch's flat layout: <root>/<id>.bs2 event files and two label lists."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from snn2hw.errors import DataError

SENSOR_SIZE = (34, 34, 2)
EVENT_DTYPE = np.dtype([("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", bool)])
OVERFLOW_Y = 240
OVERFLOW_STEP_US = 2**13

LAYOUT = (
    "expected N-MNIST in slayerPytorch's flat layout: <root>/<id>.bs2 (5-byte big-endian records: "
    "x, y, polarity bit + 23-bit microsecond timestamp) and two label lists, <root>/train*.txt "
    "and <root>/test*.txt, with lines '<id> <class>' (e.g. train1K.txt, test100.txt as in "
    "slayerPytorch's NMNISTsmall)"
)


def decode_bs2(data: bytes | np.ndarray, source: str = "<bytes>") -> np.ndarray:
    """Decode N-MNIST binary records into a structured array (x, y, t [us], p), vectorised.

    Record (40 bit, big-endian): x (8) | y (8) | p (1) | t (23, us). A record with y == 240 marks a
    timestamp overflow: 2**13 us are added to every later event and the marker is dropped
    (Orchard's and tonic's convention).
    """
    raw = np.frombuffer(data, dtype=np.uint8) if isinstance(data, (bytes, bytearray)) else data
    if raw.size % 5:
        raise DataError(
            f"{source} has {raw.size} bytes, not a multiple of 5: the file is truncated or is not "
            f"an N-MNIST .bs2 file; {LAYOUT}"
        )
    rec = raw.reshape(-1, 5).astype(np.int64)
    y = rec[:, 1]
    t = ((rec[:, 2] & 0x7F) << 16) | (rec[:, 3] << 8) | rec[:, 4]
    marker = y == OVERFLOW_Y
    if marker.any():
        t = t + np.cumsum(marker) * OVERFLOW_STEP_US
    keep = ~marker
    out = np.empty(int(keep.sum()), dtype=EVENT_DTYPE)
    out["x"] = rec[keep, 0]
    out["y"] = y[keep]
    out["t"] = t[keep]
    out["p"] = (rec[keep, 2] >> 7).astype(bool)
    return out


def read_bs2(path: str | Path) -> np.ndarray:
    """Read and decode one .bs2 file; errors name the file and the expected format."""
    p = Path(path)
    try:
        raw = np.fromfile(p, dtype=np.uint8)
    except OSError as e:
        raise DataError(f"cannot read N-MNIST file {p} ({e}); {LAYOUT}") from None
    return decode_bs2(raw, str(p))


def _label_list(root: Path, prefix: str) -> Path:
    found = sorted(root.glob(f"{prefix}*.txt"))
    if len(found) != 1:
        what = "no" if not found else f"{len(found)} ({', '.join(f.name for f in found)})"
        raise DataError(f"{root} holds {what} {prefix}*.txt label list; {LAYOUT}")
    return found[0]


def read_labels(path: Path) -> tuple[list[int], list[int]]:
    """ids and classes from a slayer label list ('#' lines are comments)."""
    try:
        table = np.loadtxt(path, dtype=np.int64, comments="#", ndmin=2)
    except ValueError as e:
        raise DataError(f"label list {path} is malformed ({e}); {LAYOUT}") from None
    if table.shape[1] != 2 or len(table) == 0:
        raise DataError(f"label list {path} must hold lines '<id> <class>'; {LAYOUT}")
    return table[:, 0].tolist(), table[:, 1].tolist()


class NMNISTFlat:
    """One split of slayer-layout N-MNIST; items are (structured events, class) like tonic's datasets."""

    sensor_size = SENSOR_SIZE
    dtype = EVENT_DTYPE
    classes = tuple(str(i) for i in range(10))

    def __init__(self, root: str | Path, train: bool = True) -> None:
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise DataError(f"N-MNIST folder {self.root} does not exist (option --data-root); {LAYOUT}")
        labels = _label_list(self.root, "train" if train else "test")
        ids, self.targets = read_labels(labels)
        self.data = [str(self.root / f"{i}.bs2") for i in ids]
        missing = [p for p in self.data if not Path(p).is_file()]
        if missing:
            raise DataError(
                f"{len(missing)} of the {len(ids)} files listed in {labels} are missing, e.g. "
                f"{missing[0]}; {LAYOUT}"
            )
        bad = sorted({c for c in self.targets if not 0 <= c <= 9})
        if bad:
            raise DataError(f"label list {labels} holds classes {bad} outside 0-9; {LAYOUT}")

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        return read_bs2(self.data[index]), self.targets[index]
