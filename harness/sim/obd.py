"""The OBD-II side of a simulated ECU: answers SAE J1979 requests (modes 01, 03, 04, 07,
09) from the ECU file's ``[diagnostics.obd]``, with the PID codecs the tester uses
(:mod:`harness.diag.obd`), so both sides encode and decode alike.

It honours two seeded faults (:data:`harness.sim.ecu.DIAGNOSTIC_FAULTS`):
``obd_bitmap_overclaims`` (the 0x00 bitmap claims a PID it never answers) and
``obd_vin_truncated`` (the VIN item is 16 bytes).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from harness.diag.obd import (
    CALID_INFOTYPE,
    CALID_LENGTH,
    ECU_NAME_INFOTYPE,
    ECU_NAME_LENGTH,
    MAX_PIDS_PER_REQUEST,
    MONITOR_STATUS,
    PIDS_BY_NUMBER,
    SUPPORT_PIDS,
    VIN_INFOTYPE,
    VIN_LENGTH,
    encode_obd_dtc,
    support_bitmap,
)


@dataclass(frozen=True)
class ObdResponderConfig:
    """What a simulated ECU answers to OBD-II requests (the ECU file's ``[diagnostics.obd]``)."""

    pids: Mapping[int, float | tuple[str, str]]
    """PID -> a constant value, or (message, signal) read live from the bus."""
    calibration_ids: tuple[str, ...] = ()
    ecu_name: str = ""
    dtcs: tuple[str, ...] = ()
    pending_dtcs: tuple[str, ...] = ()


class ObdResponder:
    """Answers J1979 requests for one simulated ECU.

    ``signal`` reads a live bus value (message, signal); ``vin`` returns the VIN.
    Unsupported PIDs get no answer (J1979); a malformed request gets none either
    when it came functionally, else NRC 0x13.
    """

    def __init__(
        self,
        config: ObdResponderConfig,
        *,
        signal: Callable[[str, str], Any],
        vin: Callable[[], str],
        faults: Callable[[], Collection[str]] = frozenset,
    ) -> None:
        self.config = config
        self._signal = signal
        self._vin = vin
        self._faults = faults
        self.dtcs = list(config.dtcs)
        self.pending = list(config.pending_dtcs)
        self.clears = 0

    def value(self, number: int) -> float:
        source = self.config.pids[number]
        if isinstance(source, tuple):
            raw = self._signal(*source)
            return float(getattr(raw, "value", raw))
        return float(source)

    def respond(self, request: bytes, *, functional: bool) -> bytes | None:
        """The answer to ``request`` (mode byte first), or None to stay silent."""
        mode = request[0]
        body = request[1:]
        if mode == 0x01:
            return self._mode01(body)
        if mode in (0x03, 0x07):
            if body:
                return None if functional else bytes([0x7F, mode, 0x13])
            codes = self.dtcs if mode == 0x03 else self.pending
            data = b"".join(encode_obd_dtc(c) for c in codes)
            return bytes([mode + 0x40, len(codes)]) + data
        if mode == 0x04:
            if body:
                return None if functional else bytes([0x7F, mode, 0x13])
            self.dtcs.clear()
            self.pending.clear()
            self.clears += 1
            return bytes([0x44])
        if mode == 0x09:
            return self._mode09(body, functional)
        return None if functional else bytes([0x7F, mode, 0x11])

    def overclaimed(self) -> int:
        """The PID fault ``obd_bitmap_overclaims`` adds to the 0x00 bitmap: the first of the
        harness's table the ECU does not answer (else the first free one below 0x20)."""
        answered = {*self.config.pids, MONITOR_STATUS}
        candidates: list[int] = [*sorted(PIDS_BY_NUMBER), *range(0x02, 0x20)]
        return next(n for n in candidates if n < 0x20 and n not in answered)

    def _mode01(self, pids: bytes) -> bytes | None:
        if not 1 <= len(pids) <= MAX_PIDS_PER_REQUEST:
            return None
        supported = [*sorted(self.config.pids), MONITOR_STATUS]
        claimed = list(supported)
        if "obd_bitmap_overclaims" in self._faults():
            claimed.append(self.overclaimed())
        parts = []
        for number in pids:
            if number in SUPPORT_PIDS:
                if number == 0x00 or any(p > number for p in supported):
                    chain = [p for p in claimed if number < p <= number + 32]
                    if any(p > number + 32 for p in supported):
                        chain.append(number + 32)
                    parts.append(bytes([number]) + support_bitmap(chain, number))
            elif number == MONITOR_STATUS:
                mil = 0x80 if self.dtcs else 0x00
                parts.append(bytes([number, mil | min(len(self.dtcs), 0x7F), 0x07, 0xFF, 0x00]))
            elif number in self.config.pids:
                parts.append(bytes([number]) + PIDS_BY_NUMBER[number].encode(self.value(number)))
        if not parts:
            return None  # J1979: no answer when none of the PIDs is supported
        return bytes([0x41]) + b"".join(parts)

    def _mode09(self, body: bytes, functional: bool) -> bytes | None:
        if len(body) != 1:
            return None if functional else bytes([0x7F, 0x09, 0x13])
        infotype = body[0]
        items: list[bytes]
        if infotype == 0x00:
            supported = [VIN_INFOTYPE]
            if self.config.calibration_ids:
                supported.append(CALID_INFOTYPE)
            if self.config.ecu_name:
                supported.append(ECU_NAME_INFOTYPE)
            return bytes([0x49, 0x00]) + support_bitmap(supported, 0)
        if infotype == VIN_INFOTYPE:
            vin = self._vin().encode("ascii")[:VIN_LENGTH].ljust(VIN_LENGTH, b"\x00")
            if "obd_vin_truncated" in self._faults():
                vin = vin[: VIN_LENGTH - 1]
            items = [vin]
        elif infotype == CALID_INFOTYPE and self.config.calibration_ids:
            items = [
                c.encode("ascii")[:CALID_LENGTH].ljust(CALID_LENGTH, b"\x00")
                for c in self.config.calibration_ids
            ]
        elif infotype == ECU_NAME_INFOTYPE and self.config.ecu_name:
            name = self.config.ecu_name.encode("ascii")[:ECU_NAME_LENGTH]
            items = [name.ljust(ECU_NAME_LENGTH, b"\x00")]
        else:
            return None
        return bytes([0x49, infotype, len(items)]) + b"".join(items)
