"""Events outside the sensor are dropped by one documented rule (with a count in the log), and
unsorted timestamps are sorted, for N-MNIST, DVS-Gesture and CIFAR10-DVS recordings."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from snn2hw.data.events import EventOptions, load_cifar10_dvs, load_dvs_gesture, load_nmnist
from snn2hw.data.fake import (
    aedat4_bytes,
    bs2_bytes,
    write_fake_cifar10_dvs,
    write_fake_dvs_gesture,
    write_fake_nmnist,
    write_gesture_sample,
)
from snn2hw.data.frames import FrameTransform, events_to_frames, keep_inside, sort_by_time
from snn2hw.data.nmnist import EVENT_DTYPE


def _events(rows: list[tuple[int, int, int, int]]) -> np.ndarray:
    ev = np.zeros(len(rows), dtype=EVENT_DTYPE)
    for i, (x, y, t, p) in enumerate(rows):
        ev[i] = (x, y, t, bool(p))
    return ev


def test_keep_inside_drops_each_kind_of_outlier():
    ev = np.zeros(6, dtype=[("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", np.int8)])
    ev["x"] = [0, 3, -1, 4, 1, 2]
    ev["y"] = [0, 2, 0, 0, 3, 1]
    ev["p"] = [0, 1, 0, 0, 0, 2]
    kept, dropped = keep_inside(ev, (4, 3, 2))  # W=4, H=3, P=2
    assert dropped == 4  # x=-1, x=4 (=W), y=3 (=H), p=2 (=P)
    assert kept["x"].tolist() == [0, 3] and kept["y"].tolist() == [0, 2]


def test_sort_by_time_is_stable_and_reports():
    ev = _events([(1, 0, 30, 0), (2, 0, 10, 0), (3, 0, 10, 1), (4, 0, 20, 0)])
    out, unsorted = sort_by_time(ev)
    assert unsorted and out["t"].tolist() == [10, 10, 20, 30] and out["x"].tolist() == [2, 3, 4, 1]
    same, again = sort_by_time(out)
    assert not again and same is out


def test_transform_equals_clean_input():
    """Outliers and shuffled order give exactly the frames of the clean, sorted recording."""
    rng = np.random.default_rng(0)
    clean = _events([(int(rng.integers(34)), int(rng.integers(34)), t, int(rng.integers(2)))
                     for t in sorted(rng.integers(0, 10_000, 200).tolist())])
    dirty = np.concatenate([clean, _events([(200, 5, 50, 1), (5, 40, 60, 0), (-3, 2, 70, 0)])])
    dirty = dirty[rng.permutation(len(dirty))]
    tf = FrameTransform(sensor_size=(34, 34, 2), n_time_bins=4, frame_size=34)
    frames, stats = tf.with_stats(dirty)
    assert stats.outside == 3 and stats.unsorted and stats.events == 203
    np.testing.assert_array_equal(frames, events_to_frames(clean, (34, 34, 2), 4))
    assert frames.sum() == 200


def test_nmnist_file_beyond_sensor_is_read_and_logged(tmp_path, caplog):
    write_fake_nmnist(tmp_path, n_train=4, n_test=2)
    rng = np.random.default_rng(1)
    ev = {"x": rng.integers(0, 34, 50), "y": rng.integers(0, 34, 50), "p": rng.integers(0, 2, 50),
          "t": np.sort(rng.integers(0, 1000, 50))}
    ev["x"][:7] = 200  # 8-bit x addresses beyond the 34-pixel sensor
    ev["t"] = ev["t"][::-1].copy()  # and the file out of time order
    (tmp_path / "1.bs2").write_bytes(bs2_bytes(ev))
    b = load_nmnist(str(tmp_path), options=EventOptions(time_bins=4, cache=False))
    with caplog.at_level(logging.WARNING, logger="snn2hw.data.events"):
        x, _ = b.train[0]
    assert x.sum().item() == 43
    text = caplog.text
    assert "1.bs2: dropped 7 of 50 events outside the 34x34 sensor" in text
    assert "not in time order; sorted" in text
    assert b.train.dropped_events == 7


def test_gesture_events_beyond_sensor(tmp_path, caplog):
    write_fake_dvs_gesture(tmp_path, train_users=(1,), test_users=(24,), classes=(0, 1))
    rng = np.random.default_rng(2)
    ev = {"x": rng.integers(0, 128, 80), "y": rng.integers(0, 128, 80), "p": rng.integers(0, 2, 80),
          "t": np.sort(rng.integers(0, 500, 80))}
    ev["y"][:5] = 130
    ev["x"][5:8] = 128
    f = tmp_path / "DVSGesture" / "ibmGestureTrain" / "user01_fluorescent" / "0.npy"
    write_gesture_sample(f, ev)
    b = load_dvs_gesture(str(tmp_path), options=EventOptions(time_bins=2, frame_size=32, cache=False))
    i = [Path(p).name for p in b.train.source.data].index("0.npy")
    with caplog.at_level(logging.WARNING, logger="snn2hw.data.events"):
        x, _ = b.train[i]
    assert x.shape == (2, 2, 32, 32) and x.sum().item() == 72
    assert "dropped 8 of 80 events outside the 128x128 sensor" in caplog.text


def test_cifar10_dvs_small_frames_with_events_beyond_sensor(tmp_path):
    """The `--frame-size 16` IndexError: coordinates past 128 scale past the 16-pixel frame."""
    write_fake_cifar10_dvs(tmp_path, per_class=2)
    rng = np.random.default_rng(3)
    ev = {"x": rng.integers(0, 128, 100), "y": rng.integers(0, 200, 100), "p": rng.integers(0, 2, 100),
          "t": np.sort(rng.integers(0, 10**6, 100)) + 1_600_000_000_000_000}
    inside = int((ev["y"] < 128).sum())
    f = tmp_path / "CIFAR10DVS" / "airplane" / "cifar10_airplane_0.aedat4"
    f.write_bytes(aedat4_bytes(ev, width=128, height=200))
    b = load_cifar10_dvs(str(tmp_path), options=EventOptions(time_bins=3, frame_size=16, cache=False))
    src = b.train.source
    j = [Path(p).name for p in src.data].index(f.name)
    split = b.train if j in b.train.indices else b.test
    x, _ = split[split.indices.index(j)]
    assert x.shape == (3, 2, 16, 16) and x.sum().item() == inside


@pytest.mark.parametrize("frame_size", [1, 7, 16, 48, 127])
def test_any_frame_size_stays_inside(frame_size):
    """Downsampling coordinates of the full sensor never leaves the frame (no IndexError)."""
    ev = np.zeros(4, dtype=[("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", np.int8)])
    ev["x"], ev["y"], ev["t"] = [0, 127, 127, 0], [127, 0, 127, 0], [0, 1, 2, 3]
    frames = FrameTransform((128, 128, 2), 2, frame_size)(ev)
    assert frames.shape == (2, 2, frame_size, frame_size) and frames.sum() == 4


def test_full_disk_turns_the_frame_cache_off_not_the_run(tmp_path, monkeypatch, caplog):
    import errno

    import snn2hw.data.cache as cache_mod
    from snn2hw.data.cache import FrameCache
    from snn2hw.fileio import os_error

    c = FrameCache(tmp_path, "nmnist", {"a": 1})

    def full(path, data):
        raise os_error(OSError(errno.ENOSPC, "No space left on device"), path, "write")

    monkeypatch.setattr(cache_mod, "_atomic_write", full)
    with caplog.at_level(logging.WARNING, logger="snn2hw.data.cache"):
        c.save(0, np.zeros((2, 2, 3, 3), np.int16))
        c.save(1, np.zeros((2, 2, 3, 3), np.int16))
    assert c.read_only and c.load(0) is None
    assert caplog.text.count("disk is full") == 1 and "decoded again" in caplog.text
