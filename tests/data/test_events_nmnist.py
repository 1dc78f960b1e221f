"""N-MNIST: our .bs2 decoder on hand-made records and on the real recordings in ../shared/data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from snn2hw.data import load_dataset
from snn2hw.data.events import EventOptions
from snn2hw.data.fake import bs2_bytes, write_fake_nmnist
from snn2hw.data.nmnist import NMNISTFlat, decode_bs2, read_bs2
from snn2hw.errors import DataError


def test_decode_hand_made_records():
    # x=3, y=7, ON, t=0x012345 | x=33, y=0, OFF, t=0x7FFFFF
    raw = bytes([3, 7, 0x80 | 0x01, 0x23, 0x45, 33, 0, 0x7F, 0xFF, 0xFF])
    ev = decode_bs2(raw)
    assert ev["x"].tolist() == [3, 33] and ev["y"].tolist() == [7, 0]
    assert ev["p"].tolist() == [True, False] and ev["t"].tolist() == [0x012345, 0x7FFFFF]


def test_overflow_marker_adds_2_pow_13_and_is_dropped():
    raw = bytes([1, 1, 0, 0, 10, 0, 240, 0, 0, 0, 2, 2, 0, 0, 5])
    ev = decode_bs2(raw)
    assert ev["t"].tolist() == [10, 5 + 2**13] and ev["x"].tolist() == [1, 2]


def test_encode_decode_round_trip():
    rng = np.random.default_rng(1)
    ev = {"x": rng.integers(0, 34, 50), "y": rng.integers(0, 34, 50), "p": rng.integers(0, 2, 50),
          "t": np.sort(rng.integers(0, 2**23, 50))}
    out = decode_bs2(bs2_bytes(ev))
    for k in "xyt":
        assert out[k].tolist() == ev[k].tolist()
    assert out["p"].tolist() == ev["p"].astype(bool).tolist()


def test_real_1_bs2_matches_the_readme(nmnist_dir):
    ev = read_bs2(nmnist_dir / "1.bs2")
    train = NMNISTFlat(nmnist_dir, train=True)
    assert train.targets[train.data.index(str(nmnist_dir / "1.bs2"))] == 5
    assert len(ev) == 4681
    assert (ev["x"].min(), ev["x"].max(), ev["y"].min(), ev["y"].max()) == (0, 33, 0, 33)
    assert (ev["t"][0], ev["t"][-1]) == (893, 305924)
    assert round(100 * ev["p"].mean(), 1) == 49.7


def test_all_real_recordings_decode_inside_34x34_with_sorted_times(nmnist_dir):
    train, test = NMNISTFlat(nmnist_dir, True), NMNISTFlat(nmnist_dir, False)
    assert (len(train), len(test)) == (1000, 100)
    assert np.bincount(test.targets).tolist() == [8, 14, 8, 11, 14, 7, 10, 15, 2, 11]
    for ds in (train, test):
        for path in ds.data:
            ev = read_bs2(path)
            assert len(ev) > 1000, path
            assert 0 <= ev["x"].min() and ev["x"].max() <= 33 and 0 <= ev["y"].min() and ev["y"].max() <= 33
            assert np.all(np.diff(ev["t"]) >= 0), path


def test_real_frames_hold_every_event(nmnist_dir, tmp_path):
    b = load_dataset("nmnist", str(nmnist_dir), options=EventOptions(time_bins=8, cache_dir=str(tmp_path)))
    assert b.in_shape == (2, 34, 34) and (len(b.train), len(b.test)) == (1000, 100)
    x, y = b.train[0]
    assert x.shape == (8, 2, 34, 34) and y == 5 and int(x.sum()) == 4681


def test_truncated_file_names_path_and_format(tmp_path):
    write_fake_nmnist(tmp_path, n_train=3, n_test=2)
    victim = tmp_path / "2.bs2"
    victim.write_bytes(victim.read_bytes()[:-2])
    b = load_dataset("nmnist", str(tmp_path), options=EventOptions(cache=False))
    with pytest.raises(DataError, match=r"2\.bs2 has \d+ bytes, not a multiple of 5.*train\*\.txt"):
        b.train[1]


def test_wrong_root_and_missing_files_are_named(tmp_path):
    with pytest.raises(DataError, match=f"{tmp_path / 'nope'} does not exist.*<id>.bs2"):
        load_dataset("nmnist", str(tmp_path / "nope"))
    write_fake_nmnist(tmp_path, n_train=3, n_test=2)
    (tmp_path / "60002.bs2").unlink()
    with pytest.raises(DataError, match=r"1 of the 2 files listed in .*test100\.txt are missing.*60002\.bs2"):
        load_dataset("nmnist", str(tmp_path))
    (tmp_path / "test100.txt").unlink()
    with pytest.raises(DataError, match=r"holds no test\*\.txt label list"):
        load_dataset("nmnist", str(tmp_path))


def test_label_list_ids_map_to_files(tmp_path):
    written = write_fake_nmnist(tmp_path, n_train=4, n_test=3)
    ds = NMNISTFlat(tmp_path, train=False)
    assert [Path(p).name for p in ds.data] == ["60001.bs2", "60002.bs2", "60003.bs2"]
    assert ds.targets == [1, 2, 3]
    assert [len(ds[i][0]) for i in range(3)] == [written[p] for p in ds.data]
