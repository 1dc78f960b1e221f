"""tonic's DVSGesture and CIFAR10DVS for a local, already checked folder (imported lazily: tonic).

tonic decides between its local files and a download with `_check_exists` (the archive plus a
minimum file count). These subclasses keep tonic's class names, since tonic derives the folder
<save_to>/<ClassName> from them, skip that check because snn2hw.data.events checked the layout,
and never download. They live at module level so loader workers can pickle them.
"""

from __future__ import annotations

import tonic.datasets

from snn2hw.data.events import CIFAR_LAYOUT, GESTURE_LAYOUT
from snn2hw.errors import DataError


class _Local:
    layout = ""

    def _check_exists(self) -> bool:
        return True

    def download(self) -> None:
        raise DataError(f"{self.location_on_system} is incomplete; {self.layout}")


class DVSGesture(_Local, tonic.datasets.DVSGesture):
    """tonic.datasets.DVSGesture reading <save_to>/DVSGesture without its download check."""

    layout = GESTURE_LAYOUT


class CIFAR10DVS(_Local, tonic.datasets.CIFAR10DVS):
    """tonic.datasets.CIFAR10DVS reading <save_to>/CIFAR10DVS without its download check."""

    layout = CIFAR_LAYOUT
