"""The frame cache: the second pass never decodes, keys follow every frame parameter, bad files heal."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from snn2hw.data import load_dataset
from snn2hw.data.cache import FrameCache, default_cache_dir
from snn2hw.data.events import EventOptions
from snn2hw.data.fake import write_fake_nmnist
from snn2hw.data.frames import augment_frames, events_to_frames


class _NoDecode:
    """Stands in for a dataset's reader after epoch 1: any decode is a test failure."""

    def __init__(self, source):
        self.data, self.targets = source.data, source.targets

    def __getitem__(self, i):
        raise AssertionError("decoded again although the frames are cached")


@pytest.fixture
def nm(tmp_path):
    write_fake_nmnist(tmp_path / "nm", n_train=12, n_test=4)
    return tmp_path / "nm"


def test_second_epoch_reads_cache_only(nm, tmp_path):
    b = load_dataset("nmnist", str(nm), options=EventOptions(time_bins=4, cache_dir=str(tmp_path / "c")))
    first = [b.train[i][0] for i in range(len(b.train))]
    b.train.source = _NoDecode(b.train.source)
    second = [b.train[i][0] for i in range(len(b.train))]
    assert all(torch.equal(a, c) for a, c in zip(first, second, strict=True))
    # a new loader (a later run) with the same parameters also finds the files
    again = load_dataset("nmnist", str(nm), options=EventOptions(time_bins=4, cache_dir=str(tmp_path / "c")))
    again.train.source = _NoDecode(again.train.source)
    assert torch.equal(again.train[3][0], first[3])


@pytest.mark.parametrize("change", [{"time_bins": 5}, {"frame_size": 17}, {"denoise_us": 5000}])
def test_key_changes_with_every_frame_parameter(nm, tmp_path, change):
    base = EventOptions(time_bins=4, cache_dir=str(tmp_path / "c"))
    a = load_dataset("nmnist", str(nm), options=base)
    b = load_dataset("nmnist", str(nm), options=EventOptions(**{**base.__dict__, **change}))
    assert a.train.cache.path != b.train.cache.path
    a.train[0]
    assert len(b.train.cache) == 0  # nothing shared between different frame parameters


def test_changed_files_change_the_key(nm, tmp_path):
    opts = EventOptions(cache_dir=str(tmp_path / "c"))
    key = load_dataset("nmnist", str(nm), options=opts).train.cache.key
    (nm / "3.bs2").write_bytes((nm / "3.bs2").read_bytes() + bytes(5))
    assert load_dataset("nmnist", str(nm), options=opts).train.cache.key != key


def test_corrupt_cache_file_is_recomputed(tmp_path):
    c = FrameCache(tmp_path, "x", {"a": 1})
    c.save(0, np.arange(6, dtype=np.int16))
    assert np.array_equal(c.load(0), np.arange(6))
    (c.path / "0.npy").write_bytes(b"\x93NUMPY garbage")
    assert c.load(0) is None
    assert not [p for p in c.path.iterdir() if p.suffix == ".tmp"]


def test_default_cache_dir_falls_back_when_root_is_read_only(tmp_path, monkeypatch):
    assert default_cache_dir(tmp_path) == tmp_path / ".snn2hw-cache"
    ro = tmp_path / "ro"
    ro.mkdir()
    monkeypatch.setattr(os, "access", lambda p, mode: False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir(ro) == tmp_path / "xdg" / "snn2hw" / "frames"


def test_events_to_frames_bins_by_hand():
    ev = np.zeros(5, dtype=[("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", bool)])
    ev["t"] = [100, 103, 105, 108, 109]  # span 9, T=3: window 4 -> bins 0,0,1,2,2
    ev["x"], ev["y"], ev["p"] = [0, 1, 2, 3, 3], [1, 1, 0, 0, 0], [1, 0, 1, 1, 1]
    fr = events_to_frames(ev, (4, 2, 2), 3)
    expect = np.zeros((3, 2, 2, 4), dtype=np.int16)
    expect[0, 1, 1, 0] = expect[0, 0, 1, 1] = expect[1, 1, 0, 2] = 1
    expect[2, 1, 0, 3] = 2
    assert np.array_equal(fr, expect)


def test_augment_flip_and_roll_by_hand():
    x = torch.arange(2 * 1 * 3 * 4, dtype=torch.float32).reshape(2, 1, 3, 4)
    g = torch.Generator().manual_seed(5)
    out = augment_frames(x, flip=True, max_shift=1, generator=g)
    g = torch.Generator().manual_seed(5)
    flip = torch.rand((), generator=g).item() < 0.5
    dy, dx = torch.randint(-1, 2, (2,), generator=g).tolist()
    ref = torch.flip(x, dims=(-1,)) if flip else x
    assert torch.equal(out, torch.roll(ref, shifts=(dy, dx), dims=(-2, -1)))
