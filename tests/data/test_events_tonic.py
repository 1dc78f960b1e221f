"""DVS-Gesture and CIFAR10-DVS through tonic's real dataset classes, on fake files in tonic's formats."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import tonic
import torch

from snn2hw.data import load_dataset
from snn2hw.data.events import EventOptions, per_class_split
from snn2hw.data.fake import CIFAR_CLASSES, write_fake_cifar10_dvs
from snn2hw.errors import ConfigError, DataError


def _opts(tmp_path: Path, **kw) -> EventOptions:
    return EventOptions(cache_dir=str(tmp_path / "cache"), **kw)


@pytest.mark.parametrize("frame_size", [128, 32])
def test_gesture_frames_shape_labels_and_event_count(fake_gesture, tmp_path, frame_size):
    root, written = fake_gesture
    b = load_dataset("dvs-gesture", str(root), options=_opts(tmp_path, time_bins=6, frame_size=frame_size))
    assert isinstance(b.train.source, tonic.datasets.DVSGesture)  # tonic's own reader
    assert b.in_shape == (2, frame_size, frame_size) and b.num_classes == 11
    assert (len(b.train), len(b.test)) == (22, 11)
    for split in (b.train, b.test):
        for i in range(len(split)):
            x, y = split[i]
            path = split.source.data[split.indices[i]]
            assert x.shape == (6, 2, frame_size, frame_size) and x.dtype == torch.float32
            assert y == int(Path(path).stem)  # the class is the file name
            assert int(x.sum()) == written[path]  # no event lost by binning or downsampling


def test_gesture_frames_equal_hand_binning(fake_gesture, tmp_path):
    root, _ = fake_gesture
    b = load_dataset("dvs-gesture", str(root), options=_opts(tmp_path, time_bins=4))
    x, _ = b.test[0]
    ev = np.load(b.test.source.data[0])  # x, y, p, t[ms]
    t = ev[:, 3] * 1000
    window = (t[-1] - t[0]) // 4 + 1
    expect = np.zeros((4, 2, 128, 128))
    np.add.at(expect, ((t - t[0]) // window, ev[:, 2], ev[:, 1], ev[:, 0]), 1)
    assert np.array_equal(x.numpy(), expect)


def test_cifar_frames_labels_and_event_count(fake_cifar, tmp_path):
    root, written = fake_cifar
    b = load_dataset("cifar10-dvs", str(root), options=_opts(tmp_path, time_bins=5))
    assert isinstance(b.train.source, tonic.datasets.CIFAR10DVS)
    assert b.in_shape == (2, 48, 48) and b.num_classes == 10
    assert (len(b.train), len(b.test)) == (90, 10)
    for split in (b.train, b.test):
        for i in range(0, len(split), 7):
            x, y = split[i]
            path = Path(split.source.data[split.indices[i]])
            assert x.shape == (5, 2, 48, 48)
            assert y == CIFAR_CLASSES.index(path.parent.name)
            assert int(x.sum()) == written[str(path)]


@pytest.mark.parametrize("split,n_test", [("9:1", 1), ("7:3", 3)])
def test_cifar_split_is_per_class_disjoint_seeded(fake_cifar, tmp_path, split, n_test):
    root, _ = fake_cifar
    a = load_dataset("cifar10-dvs", str(root), options=_opts(tmp_path, split=split))
    again = load_dataset("cifar10-dvs", str(root), options=_opts(tmp_path, split=split))
    other = load_dataset("cifar10-dvs", str(root), options=_opts(tmp_path, split=split, split_seed=1))
    tr, te = set(a.train.indices), set(a.test.indices)
    assert not tr & te and len(tr | te) == 100
    for c in range(10):
        assert sum(a.test.targets[i] == c for i in range(len(a.test))) == n_test
        assert sum(a.train.targets[i] == c for i in range(len(a.train))) == 10 - n_test
    assert a.test.indices == again.test.indices and a.train.indices == again.train.indices
    assert a.test.indices != other.test.indices


def test_per_class_split_by_hand():
    targets = [0] * 20 + [1] * 10 + [2] * 2
    tr, te = per_class_split(targets, 0.1, seed=3)
    assert [targets[i] for i in te].count(0) == 2 and [targets[i] for i in te].count(1) == 1
    assert [targets[i] for i in te].count(2) == 1  # tiny class: one on each side
    assert sorted(tr + te) == list(range(32))
    assert (tr, te) == per_class_split(targets, 0.1, seed=3)


def test_augmentation_train_only_and_keeps_counts(fake_cifar, tmp_path):
    root, _ = fake_cifar
    b = load_dataset("cifar10-dvs", str(root), options=_opts(tmp_path, augment="flip-roll"))
    torch.manual_seed(0)
    draws = [b.train[0][0] for _ in range(6)]
    assert any(not torch.equal(draws[0], d) for d in draws[1:])
    assert all(d.sum() == draws[0].sum() for d in draws)  # flip and roll move events, never drop
    assert torch.equal(b.test[0][0], b.test[0][0])


def test_flip_is_refused_for_gesture(fake_gesture, tmp_path):
    root, _ = fake_gesture
    with pytest.raises(ConfigError, match="left- and right-hand"):
        load_dataset("dvs-gesture", str(root), options=_opts(tmp_path, augment="flip-roll"))


def test_wrong_root_names_path_and_layout(tmp_path):
    for name, expect in (("dvs-gesture", "ibmGestureTrain"), ("cifar10-dvs", "CIFAR10DVS/<class>")):
        with pytest.raises(DataError) as e:
            load_dataset(name, str(tmp_path / "nowhere"), options=_opts(tmp_path))
        assert str(tmp_path / "nowhere") in str(e.value) and expect in str(e.value)


def test_empty_class_folder_is_named(tmp_path):
    write_fake_cifar10_dvs(tmp_path, per_class=2, events=(20, 30))
    for f in (tmp_path / "CIFAR10DVS" / "frog").iterdir():
        f.unlink()
    with pytest.raises(DataError, match=r"CIFAR10DVS/frog holds no \.aedat4 files"):
        load_dataset("cifar10-dvs", str(tmp_path), options=_opts(tmp_path))


def test_truncated_aedat4_names_the_file(tmp_path):
    written = write_fake_cifar10_dvs(tmp_path, per_class=2, events=(2000, 2001))
    victim = Path(min(written))
    victim.write_bytes(victim.read_bytes()[:-5000])
    b = load_dataset("cifar10-dvs", str(tmp_path), options=_opts(tmp_path, cache=False))
    split = b.train if b.train.source.data.index(str(victim)) in b.train.indices else b.test
    i = split.indices.index(split.source.data.index(str(victim)))
    with pytest.raises(DataError, match="cannot read event file .*" + victim.name):
        split[i]


def test_truncated_gesture_npy_names_the_file(fake_gesture, tmp_path):
    root = tmp_path / "g"
    shutil.copytree(fake_gesture[0], root)
    victim = next((root / "DVSGesture" / "ibmGestureTest").rglob("3.npy"))
    victim.write_bytes(victim.read_bytes()[:100])
    b = load_dataset("dvs-gesture", str(root), options=_opts(tmp_path, cache=False))
    i = b.test.source.data.index(str(victim))
    with pytest.raises(DataError, match=str(victim)):
        b.test[i]


def test_event_options_rejected_for_static_data(tmp_path):
    with pytest.raises(ConfigError, match="--frame-size"):
        load_dataset("digits", str(tmp_path), options=EventOptions(frame_size=16))


def test_splits_pickle_for_loader_workers(fake_gesture, fake_cifar, tmp_path):
    import pickle

    for name, (root, _) in (("dvs-gesture", fake_gesture), ("cifar10-dvs", fake_cifar)):
        b = load_dataset(name, str(root), options=_opts(tmp_path, time_bins=3, augment="roll"))
        clone = pickle.loads(pickle.dumps(b.train))
        assert np.array_equal(clone.frames(2), b.train.frames(2))
        assert clone.targets == b.train.targets
