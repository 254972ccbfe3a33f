"""J1939 behaviour of simulated truck ECUs: address claim, requests, DM1 every second.

An ECU file's ``[j1939]`` table makes its ECU a J1939 node on its channel (through
:class:`harness.canbus.saej1939.stack.J1939Node`, i.e. can-j1939). The residual bus still
sends the node's cyclic messages; this service adds what J1939 asks beyond them:

.. code-block:: toml

    [j1939]
    address = 0x00                      # preferred source address
    identity = 1001                     # NAME identity number
    function = 0                        # NAME function (0: engine)
    taken_address = 0x21                # what fault claims_taken_address claims instead
    dm1_lamp = "amber"                  # the lamp active DTCs light: amber, red, protect, mil
    dtcs = [{ spn = 110, fmi = 0, oc = 3 }]   # active DTCs, sent in DM1 (by BAM when > 1)
    previously_active = [{ spn = 91, fmi = 3, oc = 2 }]   # sent in DM2

Requests for any message the node sends are answered with its current payload,
requests for DM1 and DM2 with the DM. DM3 clears the previously active DTCs, DM11 the
active ones (both acknowledged when asked directly); a power cycle brings back what the
file says. A direct request for any other PGN gets a NACK. Faults are
:data:`harness.sim.ecu.J1939_FAULTS`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.canbus.saej1939.addressing import NULL_ADDRESS, pgn_of
from harness.canbus.saej1939.dm import DM1, DM2, DM3, DM11, DiagnosticMessage, Dtc, encode_dm
from harness.canbus.saej1939.stack import J1939Node, name
from harness.canbus.saej1939.transport import BAM_GAP_MIN
from harness.datafile import Table
from harness.exceptions import HarnessError

if TYPE_CHECKING:
    from harness.canbus.channel import Channel
    from harness.sim.ecu import EcuDefinition, SimulatedEcu

DM1_PERIOD = 1.0
"""J1939-73 5.7.1: DM1 once a second (and on change)."""
WRONG_BAM_GAP = 0.005
LAMPS = ("amber", "red", "protect", "mil")


@dataclass(frozen=True)
class J1939Config:
    """An ECU file's ``[j1939]`` table, validated."""

    address: int
    identity: int
    function: int
    taken_address: int | None
    dm1_lamp: str
    dtcs: tuple[Dtc, ...]
    previously_active: tuple[Dtc, ...] = ()


def j1939_config(definition: EcuDefinition) -> J1939Config:
    """Validate ``[j1939]`` (ConfigError naming the file and key on bad input)."""
    table = Table(dict(definition.j1939), str(definition.path), "j1939")
    address = table.optional_int("address", minimum=0)
    if address is None or address > 253:
        raise table.error("address", "a J1939 source address 0..253 is required")
    taken = table.optional_int("taken_address", minimum=0)
    lamp = table.optional_str("dm1_lamp", "amber") or "amber"
    if lamp not in LAMPS:
        raise table.error("dm1_lamp", f"one of {', '.join(LAMPS)}, not {lamp!r}")
    config = J1939Config(
        address=address,
        identity=table.optional_int("identity", minimum=0) or 0,
        function=table.optional_int("function", minimum=0) or 0,
        taken_address=taken,
        dm1_lamp=lamp,
        dtcs=_dtcs(table, "dtcs"),
        previously_active=_dtcs(table, "previously_active"),
    )
    table.finish()
    needs_taken = any("claims_taken_address" in f.j1939 for f in definition.faults.values())
    if needs_taken and taken is None:
        raise table.error("taken_address", "fault claims_taken_address needs it")
    return config


def _dtcs(table: Table, key: str) -> tuple[Dtc, ...]:
    dtcs = []
    for entry in table.tables(key):
        dtcs.append(
            Dtc(
                entry.optional_int("spn", minimum=1) or 0,
                entry.optional_int("fmi", minimum=0) or 0,
                entry.optional_int("oc", minimum=0) or 1,
            )
        )
        entry.finish()
    return tuple(dtcs)


class J1939Service:
    """Runs while the ECU is powered: claims, answers requests, sends DM1 every second."""

    def __init__(self, ecu: SimulatedEcu) -> None:
        self.ecu = ecu
        self.config = j1939_config(ecu.definition)
        self.node: J1939Node | None = None
        self.active: tuple[Dtc, ...] = self.config.dtcs
        self.previously_active: tuple[Dtc, ...] = self.config.previously_active

    def _faults(self) -> set[str]:
        faults = self.ecu.definition.faults
        return {p for f in self.ecu.active_faults for p in faults[f].j1939}

    def start(self) -> None:
        faults = self._faults()
        address = self.config.address
        if "claims_taken_address" in faults and self.config.taken_address is not None:
            address = self.config.taken_address
        self.active = self.config.dtcs
        self.previously_active = self.config.previously_active
        node = J1939Node(
            self.ecu.channel,
            name(identity=self.config.identity, function=self.config.function),
            address,
            bam_gap=WRONG_BAM_GAP if "tp_timing_wrong" in faults else BAM_GAP_MIN,
            nack_unsupported="nack_missing" not in faults,
            on_lost=self._silence,
        )
        self.node = node
        db = self.ecu.definition.db
        for message in db.messages:
            if self.ecu.definition.node in message.senders and db.is_j1939_message(message):
                node.answer(pgn_of(message.frame_id), self._payload_of(message.name))
        node.answer(DM1, self.dm1)
        node.answer(DM2, self.dm2)
        node.acknowledge(DM3, self._clear_previously_active)
        node.acknowledge(DM11, self._clear_active)
        node.every(DM1_PERIOD, self._send_dm1)

    def _silence(self) -> None:
        """Lost the address (J1939-81 4.5.4): nothing more goes out from it."""
        if self.ecu.residual is not None:
            self.ecu.residual.stop()

    def _payload_of(self, message: str) -> Callable[[], bytes]:
        def payload() -> bytes:
            residual = self.ecu.residual
            return residual.message(message).payload() if residual else b""

        return payload

    def dm1(self) -> bytes:
        """The DM1 as the ECU sends it now (faults included)."""
        lit = 1 if self.active and "dm1_lamp_wrong" not in self._faults() else 0
        lamp = self.config.dm1_lamp
        return encode_dm(
            DiagnosticMessage(
                malfunction_lamp=lit if lamp == "mil" else 0,
                red_stop_lamp=lit if lamp == "red" else 0,
                amber_warning_lamp=lit if lamp == "amber" else 0,
                protect_lamp=lit if lamp == "protect" else 0,
                dtcs=self.active,
            )
        )

    def dm2(self) -> bytes:
        """The DM2: previously active DTCs (lamps off: they light for active ones)."""
        return encode_dm(DiagnosticMessage(dtcs=self.previously_active))

    def _clear_previously_active(self) -> bool:
        if "clear_ignored" not in self._faults():
            self.previously_active = ()
        return True

    def _clear_active(self) -> bool:
        if "clear_ignored" not in self._faults():
            self.active = ()
        return True

    def _send_dm1(self) -> None:
        node = self.node
        if node is None or node.address == NULL_ADDRESS:
            return
        with contextlib.suppress(HarnessError):  # the previous DM1 still crossing by BAM
            node.send(DM1, self.dm1())

    def stop(self) -> None:
        if self.node is not None:
            self.node.close()
            self.node = None


def attach_j1939(ecu: SimulatedEcu, channels: Mapping[str, Channel]) -> J1939Service:
    """The ``j1939`` row of :data:`harness.sim.ecu.SERVICES` (on the ECU's own channel)."""
    service = J1939Service(ecu)
    ecu.attach(service)
    return service
