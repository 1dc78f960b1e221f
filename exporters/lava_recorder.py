"""A Lava process that records the spikes arriving at its port straight into a .npy file.

Lava's Monitor reads its recordings back through the runtime one element at a time (about
45 us per element on a 2-core machine: minutes for one CIFAR-sized population); this sink writes
each step's spikes into a memory-mapped file created by the caller, so reading them back costs
nothing. It only observes: it sends nothing into the network. Imported in Lava child processes only.
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol


class SpikeFileSink(AbstractProcess):
    """Writes the spikes it receives at step t into row t - 1 of the .npy file at `path`."""

    def __init__(self, *, shape: tuple[int, ...], path: str, steps: int) -> None:
        super().__init__(shape=shape, path=path, steps=steps)
        self.s_in = InPort(shape=shape)


@implements(proc=SpikeFileSink, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PySpikeFileSinkModel(PyLoihiProcessModel):
    """Receives one spike vector per step and stores it (uint8) in the caller's memmap."""

    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, bool, precision=1)

    def __init__(self, proc_params) -> None:
        super().__init__(proc_params)
        self._mm = None

    def run_spk(self) -> None:
        s = self.s_in.recv()
        if self._mm is None:
            self._mm = np.load(self.proc_params["path"], mmap_mode="r+")
        t = self.time_step - 1
        if t < self._mm.shape[0]:
            self._mm[t] = s.astype(np.uint8)
        if t == self._mm.shape[0] - 1:
            self._mm.flush()


def new_recording(path: str, steps: int, shape: tuple[int, ...]) -> None:
    """Create the zero-filled .npy file a SpikeFileSink writes into."""
    np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(steps, *shape)).flush()
