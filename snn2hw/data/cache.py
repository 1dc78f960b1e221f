"""A disk cache of decoded frames, one .npy per sample, in a folder keyed by every parameter that
shapes the frames (dataset, files, transform), so a later epoch or run never decodes again."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from snn2hw.fileio import FileSystemError, atomic_write_bytes

CACHE_FORMAT = 1
log = logging.getLogger(__name__)


def files_fingerprint(paths: Sequence[str], root: str | Path) -> str:
    """sha1 over (path relative to root, size in bytes) of every source file, in order."""
    h = hashlib.sha1()
    root = Path(root)
    for p in paths:
        try:
            rel = str(Path(p).relative_to(root))
        except ValueError:
            rel = str(p)
        h.update(f"{rel}\0{os.path.getsize(p)}\n".encode())
    return h.hexdigest()


def cache_key(params: dict[str, Any]) -> str:
    """A short stable hash of a JSON-able parameter dict."""
    text = json.dumps({"format": CACHE_FORMAT, **params}, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


class FrameCache:
    """<cache_dir>/<dataset>/<key>/<index>.npy; writes are atomic (temp file + rename), so parallel
    loader workers and killed runs never leave a half-written sample that is read back."""

    def __init__(self, cache_dir: str | Path, dataset: str, params: dict[str, Any]) -> None:
        self.key = cache_key(params)
        self.path = Path(cache_dir).expanduser() / dataset / self.key
        self.path.mkdir(parents=True, exist_ok=True)
        meta = self.path / "params.json"
        if not meta.exists():
            _atomic_write(meta, json.dumps(params, indent=2, sort_keys=True, default=str).encode())
        self.hits = 0
        self.misses = 0
        self.read_only = False

    def _file(self, index: int) -> Path:
        return self.path / f"{index}.npy"

    def load(self, index: int) -> np.ndarray | None:
        """The cached frames of sample `index`, or None when absent or unreadable."""
        f = self._file(index)
        try:
            arr = np.load(f, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            self.misses += 1
            return None
        self.hits += 1
        return arr

    def save(self, index: int, frames: np.ndarray) -> None:
        buf = io.BytesIO()
        np.save(buf, frames, allow_pickle=False)
        if self.read_only:
            return
        try:
            _atomic_write(self._file(index), buf.getvalue())
        except FileSystemError as e:  # a full or read-only disk costs speed, not the run
            self.read_only = True
            log.warning("frame cache %s: %s; frames are decoded again from now on", self.path, e)

    def __len__(self) -> int:
        return sum(1 for _ in self.path.glob("*.npy"))


def _atomic_write(path: Path, data: bytes) -> None:
    """Temp file in the same folder + os.replace (no fsync: a lost cache file is only recomputed)."""
    atomic_write_bytes(path, data, fsync=False, what="frame cache file")


def default_cache_dir(data_root: str | Path) -> Path:
    """<data_root>/.snn2hw-cache when data_root is writable, else ~/.cache/snn2hw/frames."""
    root = Path(data_root).expanduser()
    if root.is_dir() and os.access(root, os.W_OK):
        return root / ".snn2hw-cache"
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "snn2hw" / "frames"
