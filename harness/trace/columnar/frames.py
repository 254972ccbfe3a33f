"""A chunk of CAN frames as columns: the unit every columnar reader yields and the decoder takes.

Payloads are one zero-padded (N, W) byte matrix with each frame's length
beside it, so the decoder can slice a message's frames out with one fancy
index. Channels are small integer codes into a list of names that only grows
while a file is read, so a code means the same channel in every chunk.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import can
import numpy as np

if TYPE_CHECKING:
    import numpy.typing as npt

DEFAULT_CHUNK_FRAMES = 200_000
"""Frames per chunk: about 20 MB of columns, and large enough for numpy to amortise."""


class ChannelNames:
    """Channel name -> code, shared by every chunk of one file."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._codes: dict[str, int] = {}

    def code(self, name: str) -> int:
        code = self._codes.get(name)
        if code is None:
            code = self._codes[name] = len(self.names)
            self.names.append(name)
        return code

    def codes(self, values: npt.NDArray[Any]) -> npt.NDArray[np.int32]:
        """Codes for an array of channel values (ints or strings), one lookup per distinct one."""
        if len(values) == 0:
            return np.zeros(0, dtype=np.int32)
        first = values[0]
        if (values == first).all():  # one channel, the usual case: no sort
            return np.full(len(values), self.code(str(first.item())), dtype=np.int32)
        distinct, inverse = np.unique(values, return_inverse=True)
        table = np.array([self.code(str(v)) for v in distinct.tolist()], dtype=np.int32)
        codes: npt.NDArray[np.int32] = table[inverse.ravel()]
        return codes


@dataclass(slots=True)
class FrameChunk:
    """Consecutive frames of a trace, one numpy array per field (python-can's Message fields)."""

    timestamp: npt.NDArray[np.float64]
    channel: npt.NDArray[np.int32]
    """Codes into ``channels``; a name is ``str(msg.channel)``, ``""`` for none."""
    channels: list[str]
    is_rx: npt.NDArray[np.bool_]
    arbitration_id: npt.NDArray[np.uint32]
    is_extended_id: npt.NDArray[np.bool_]
    is_remote_frame: npt.NDArray[np.bool_]
    is_error_frame: npt.NDArray[np.bool_]
    is_fd: npt.NDArray[np.bool_]
    bitrate_switch: npt.NDArray[np.bool_]
    error_state_indicator: npt.NDArray[np.bool_]
    dlc: npt.NDArray[np.int16]
    length: npt.NDArray[np.int16]
    """Bytes of payload each frame carries (its data field; may differ from ``dlc``)."""
    data: npt.NDArray[np.uint8]
    """(N, W) payloads, zero beyond each frame's length."""
    has_direction: bool = True
    """Whether the format records rx/tx at all (CSV and SQLite do not)."""

    def __len__(self) -> int:
        return len(self.timestamp)

    def payload(self, index: int) -> bytes:
        return self.data[index, : self.length[index]].tobytes()

    def to_messages(self) -> Iterator[can.Message]:
        """The frames as python-can messages again (for comparisons and slow paths)."""
        for i in range(len(self)):
            yield can.Message(
                timestamp=float(self.timestamp[i]),
                arbitration_id=int(self.arbitration_id[i]),
                is_extended_id=bool(self.is_extended_id[i]),
                is_remote_frame=bool(self.is_remote_frame[i]),
                is_error_frame=bool(self.is_error_frame[i]),
                is_fd=bool(self.is_fd[i]),
                bitrate_switch=bool(self.bitrate_switch[i]),
                error_state_indicator=bool(self.error_state_indicator[i]),
                is_rx=bool(self.is_rx[i]),
                dlc=int(self.dlc[i]),
                data=self.payload(i),
                channel=self.channels[self.channel[i]],
            )


def chunk_from_messages(
    messages: Iterable[can.Message], channels: ChannelNames, *, has_direction: bool = True
) -> FrameChunk:
    """Columns from python-can messages: the path for every format without a bulk reader."""
    msgs = list(messages)
    count = len(msgs)
    width = max((len(m.data) for m in msgs), default=0)
    data = np.zeros((count, max(width, 8)), dtype=np.uint8)
    lengths = np.zeros(count, dtype=np.int16)
    for i, m in enumerate(msgs):
        n = len(m.data)
        if n:
            data[i, :n] = np.frombuffer(bytes(m.data), dtype=np.uint8)
        lengths[i] = n

    def column(attr: str, dtype: Any) -> npt.NDArray[Any]:
        return np.fromiter((getattr(m, attr) for m in msgs), dtype=dtype, count=count)

    return FrameChunk(
        timestamp=column("timestamp", np.float64),
        channel=np.fromiter(
            (channels.code("" if m.channel is None else str(m.channel)) for m in msgs),
            dtype=np.int32,
            count=count,
        ),
        channels=channels.names,
        is_rx=column("is_rx", np.bool_),
        arbitration_id=column("arbitration_id", np.uint32),
        is_extended_id=column("is_extended_id", np.bool_),
        is_remote_frame=column("is_remote_frame", np.bool_),
        is_error_frame=column("is_error_frame", np.bool_),
        is_fd=column("is_fd", np.bool_),
        bitrate_switch=column("bitrate_switch", np.bool_),
        error_state_indicator=column("error_state_indicator", np.bool_),
        dlc=column("dlc", np.int16),
        length=lengths,
        data=data,
        has_direction=has_direction,
    )
