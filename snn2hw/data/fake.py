"""Tiny fake event datasets written in the exact on-disk formats that tonic (and our N-MNIST
reader) read: for tests and benchmarks that must run offline through the real readers."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

AEDAT4_MAGIC = b"#!AER-DAT4.0\r\n"
AEDAT4_EVENT = np.dtype({"names": ["t", "x", "y", "on"], "formats": ["<i8", "<i2", "<i2", "u1"],
                         "offsets": [0, 8, 10, 12], "itemsize": 16})
CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def random_events(rng: np.random.Generator, n: int, size: int, duration_us: int) -> dict[str, np.ndarray]:
    """n events at random pixels of a size x size sensor, sorted times in [0, duration_us)."""
    return {
        "x": rng.integers(0, size, n), "y": rng.integers(0, size, n),
        "p": rng.integers(0, 2, n), "t": np.sort(rng.integers(0, duration_us, n)),
    }


# ----------------------------------------------------------------------------- DVS-Gesture
def write_gesture_sample(path: Path, ev: dict[str, np.ndarray]) -> None:
    """tonic's preprocessed DVS-Gesture sample: .npy array [N, 4] of x, y, p, t in milliseconds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.stack([ev["x"], ev["y"], ev["p"], ev["t"]], axis=1).astype(np.int64))


def write_fake_dvs_gesture(root: str | Path, *, train_users: Sequence[int] = (1, 2),
                           test_users: Sequence[int] = (24,), classes: Sequence[int] = tuple(range(11)),
                           events: tuple[int, int] = (200, 400), seed: int = 0) -> dict[str, int]:
    """<root>/DVSGesture/ibmGestureTrain|Test/user<NN>_fluorescent/<class>.npy; returns
    {file path: event count}. Timestamps are ms within 0.5 s, 128x128 sensor."""
    rng = np.random.default_rng(seed)
    written: dict[str, int] = {}
    for split, users in (("ibmGestureTrain", train_users), ("ibmGestureTest", test_users)):
        for u in users:
            for c in classes:
                n = int(rng.integers(*events))
                path = Path(root) / "DVSGesture" / split / f"user{u:02d}_fluorescent" / f"{c}.npy"
                write_gesture_sample(path, random_events(rng, n, 128, 500))
                written[str(path)] = n
    return written


# ----------------------------------------------------------------------------- CIFAR10-DVS (AEDAT 4)
def _aedat4_description(width: int, height: int) -> str:
    return (
        '<dv version="2.0">\n  <node name="outInfo" path="/mainloop/output_file/outInfo/">\n'
        '    <node name="0" path="/mainloop/output_file/outInfo/0/">\n'
        '      <attr key="compression" type="string">NONE</attr>\n'
        '      <attr key="originalModuleName" type="string">capture</attr>\n'
        '      <attr key="originalOutputName" type="string">events</attr>\n'
        '      <attr key="typeDescription" type="string">Array of events (polarity ON/OFF).</attr>\n'
        '      <attr key="typeIdentifier" type="string">EVTS</attr>\n'
        '      <node name="info" path="/mainloop/output_file/outInfo/0/info/">\n'
        f'        <attr key="sizeX" type="int">{width}</attr>\n'
        f'        <attr key="sizeY" type="int">{height}</attr>\n'
        '        <attr key="source" type="string">snn2hw-fake</attr>\n'
        "      </node>\n    </node>\n  </node>\n</dv>\n"
    )


def aedat4_bytes(ev: dict[str, np.ndarray], width: int = 128, height: int = 128,
                 packet_size: int = 1000) -> bytes:
    """An uncompressed AEDAT 4.0 file: magic, size-prefixed IOHeader FlatBuffer ("IOHE":
    compression None, no file-data table, XML description of one EVTS stream), then packets
    (uint32 stream id, uint32 length, size-prefixed "EVTS" FlatBuffer of 16-byte events)."""
    import flatbuffers

    hb = flatbuffers.Builder(1024)
    desc = hb.CreateString(_aedat4_description(width, height))
    hb.StartObject(3)
    hb.PrependUOffsetTRelativeSlot(2, desc, 0)
    hb.FinishSizePrefixed(hb.EndObject(), b"IOHE")
    out = [AEDAT4_MAGIC, bytes(hb.Output())]

    rec = np.zeros(len(ev["t"]), dtype=AEDAT4_EVENT)
    rec["t"], rec["x"], rec["y"], rec["on"] = ev["t"], ev["x"], ev["y"], ev["p"]
    for start in range(0, len(rec), packet_size):
        chunk = rec[start:start + packet_size].tobytes()
        n = len(chunk) // AEDAT4_EVENT.itemsize
        b = flatbuffers.Builder(len(chunk) + 64)
        b.StartVector(AEDAT4_EVENT.itemsize, n, 8)
        b.head -= len(chunk)
        b.Bytes[b.head:b.head + len(chunk)] = chunk
        vec = b.EndVector(n)
        b.StartObject(1)
        b.PrependUOffsetTRelativeSlot(0, vec, 0)
        b.FinishSizePrefixed(b.EndObject(), b"EVTS")
        payload = bytes(b.Output())
        out += [(0).to_bytes(4, "little"), len(payload).to_bytes(4, "little"), payload]
    return b"".join(out)


def write_fake_cifar10_dvs(root: str | Path, *, per_class: int = 3,
                           classes: Sequence[str] = CIFAR_CLASSES, events: tuple[int, int] = (300, 600),
                           seed: int = 0) -> dict[str, int]:
    """<root>/CIFAR10DVS/<class>/cifar10_<class>_<i>.aedat4 (128x128, absolute us timestamps as in
    the real recordings); returns {file path: event count}."""
    rng = np.random.default_rng(seed)
    written: dict[str, int] = {}
    for c in classes:
        folder = Path(root) / "CIFAR10DVS" / c
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            n = int(rng.integers(*events))
            ev = random_events(rng, n, 128, 1_000_000)
            ev["t"] = ev["t"] + 1_600_000_000_000_000
            path = folder / f"cifar10_{c}_{i}.aedat4"
            path.write_bytes(aedat4_bytes(ev))
            written[str(path)] = n
    return written


# ----------------------------------------------------------------------------- N-MNIST (bs2)
def bs2_bytes(ev: dict[str, np.ndarray]) -> bytes:
    """N-MNIST 5-byte big-endian records: x, y, p << 7 | t[22:16], t[15:8], t[7:0]."""
    t = ev["t"].astype(np.int64)
    rec = np.stack([ev["x"], ev["y"], (ev["p"] << 7) | ((t >> 16) & 0x7F), (t >> 8) & 0xFF, t & 0xFF],
                   axis=1).astype(np.uint8)
    return rec.tobytes()


def write_fake_nmnist(root: str | Path, *, n_train: int = 20, n_test: int = 10,
                      events: tuple[int, int] = (100, 300), seed: int = 0) -> dict[str, int]:
    """slayer's flat layout: <root>/<id>.bs2, train1K.txt, test100.txt ('#sample #class' header)."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    written: dict[str, int] = {}
    for name, ids in (("train1K.txt", range(1, n_train + 1)), ("test100.txt", range(60001, 60001 + n_test))):
        lines = ["#sample\t#class"]
        for i in ids:
            n = int(rng.integers(*events))
            path = root / f"{i}.bs2"
            path.write_bytes(bs2_bytes(random_events(rng, n, 34, 300_000)))
            written[str(path)] = n
            lines.append(f"{i}\t{i % 10}")
        (root / name).write_text("\n".join(lines) + "\n")
    return written
