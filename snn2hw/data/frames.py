"""Events -> frames [T, 2, H, W]: tonic's Denoise, Downsample and to_frame, plus TET augmentation.

Each step is a pure function and a frozen dataclass holding its settings (tonic's pattern).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np
import torch


def events_to_frames(events: np.ndarray, sensor_size: tuple[int, int, int], n_time_bins: int) -> np.ndarray:
    """Bin all events into n_time_bins equal time windows: int16 counts [T, P, H, W].

    tonic's ToFrame(n_time_bins=T) uses windows of floor(span / T) and drops the events at and
    after t0 + T * floor(span / T) (always the last event). Here the window is floor(span / T) + 1,
    so T windows cover [t0, t_last] and every event is counted; the counting itself is tonic's
    to_frame_numpy. Events must be sorted by time, sensor_size is (W, H, P).
    """
    from tonic.functional import to_frame_numpy

    w, h, p = sensor_size
    if len(events) == 0:
        return np.zeros((n_time_bins, p, h, w), dtype=np.int16)
    t0 = int(events["t"][0])
    span = int(events["t"][-1]) - t0
    window = span // n_time_bins + 1
    frames = to_frame_numpy(
        events, sensor_size, time_window=window, start_time=t0, end_time=t0 + n_time_bins * window,
    )
    if frames.shape[0] != n_time_bins:  # pragma: no cover - guards a change in tonic's slicing
        raise RuntimeError(f"tonic returned {frames.shape[0]} frames instead of {n_time_bins}")
    return frames


def sort_by_time(events: np.ndarray) -> tuple[np.ndarray, bool]:
    """Events in time order (stable: equal timestamps keep their order); True if they were not."""
    t = events["t"]
    if len(t) < 2 or bool(np.all(t[1:] >= t[:-1])):
        return events, False
    return events[np.argsort(t, kind="stable")], True


def keep_inside(events: np.ndarray, sensor_size: tuple[int, int, int]) -> tuple[np.ndarray, int]:
    """The rule for events outside the sensor: drop every event with x outside [0, W), y outside
    [0, H) or polarity outside [0, P) (sensor_size = (W, H, P)); returns (kept, number dropped).

    Without it such events index past the frame (IndexError) or, when negative, wrap around
    silently to the opposite border.
    """
    w, h, p = sensor_size
    ok = (events["x"] >= 0) & (events["x"] < w) & (events["y"] >= 0) & (events["y"] < h)
    if "p" in (events.dtype.names or ()):
        pol = events["p"].astype(np.int64)
        ok &= (pol >= 0) & (pol < max(p, 1))
    n_out = int(len(events) - ok.sum())
    return (events if n_out == 0 else events[ok]), n_out


@dataclass(frozen=True)
class EventStats:
    """What FrameTransform had to repair in one recording."""

    events: int
    """Events in the recording."""
    outside: int
    """Events dropped because x, y or polarity lay outside the sensor (keep_inside)."""
    unsorted: bool
    """The timestamps were not in order and were sorted (sort_by_time)."""


@dataclass(frozen=True)
class FrameTransform:
    """Denoise (optional) -> Downsample to frame_size (optional) -> T frames, with tonic's transforms."""

    sensor_size: tuple[int, int, int]
    """Native sensor (W, H, P) of the dataset."""
    n_time_bins: int
    """Frames per sample (T); equals the student's time steps."""
    frame_size: int
    """Output frames are frame_size x frame_size (events downsampled by frame_size / W)."""
    denoise_us: Optional[int] = None
    """tonic Denoise filter_time in microseconds; None = off."""

    @property
    def out_size(self) -> tuple[int, int, int]:
        """Sensor size after downsampling: (W, H, P)."""
        w, h, p = self.sensor_size
        if self.frame_size == w:
            return (w, h, p)
        return (self.frame_size, round(h * self.frame_size / w), p)

    def to_dict(self) -> dict:
        return asdict(self)

    def __call__(self, events: np.ndarray) -> np.ndarray:
        return self.with_stats(events)[0]

    def with_stats(self, events: np.ndarray) -> tuple[np.ndarray, EventStats]:
        """Frames [T, P, H, W] and what was repaired: events are sorted by time and those outside
        the native sensor dropped (keep_inside) before denoising, downsampling and binning."""
        import tonic.transforms as tt

        n = len(events)
        events, unsorted = sort_by_time(events)
        events, outside = keep_inside(events, self.sensor_size)
        stats = EventStats(events=n, outside=outside, unsorted=unsorted)
        if self.denoise_us is not None and len(events) > 0:
            events = tt.Denoise(filter_time=self.denoise_us)(events)
        w = self.sensor_size[0]
        if self.frame_size != w and len(events) > 0:
            events = tt.Downsample(spatial_factor=self.frame_size / w)(events)
            events, _ = keep_inside(events, self.out_size)  # rounding can never push one out
        return events_to_frames(events, self.out_size, self.n_time_bins), stats


def augment_frames(frames: torch.Tensor, *, flip: bool, max_shift: int,
                   generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """TET's DVS augmentation on [T, C, H, W]: horizontal flip with p=0.5 (if flip), then a
    torch.roll by (dy, dx), each uniform in [-max_shift, max_shift], the same for all T frames."""
    if flip and torch.rand((), generator=generator).item() < 0.5:
        frames = torch.flip(frames, dims=(-1,))
    if max_shift > 0:
        dy, dx = torch.randint(-max_shift, max_shift + 1, (2,), generator=generator).tolist()
        frames = torch.roll(frames, shifts=(dy, dx), dims=(-2, -1))
    return frames


@dataclass(frozen=True)
class TETAugment:
    """Random flip + roll (train split only); randomness from `generator` or torch's global RNG."""

    flip: bool
    max_shift: int

    def __call__(self, frames: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        return augment_frames(frames, flip=self.flip, max_shift=self.max_shift, generator=generator)
