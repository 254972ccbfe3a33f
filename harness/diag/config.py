"""The ``[diagnostics]`` sections of bench files (the tester) and ECU files (a simulated server).

Both sides share the addressing and ISO-TP keys, named from neither side's point
of view: ``request_id`` is what the tester sends on, ``response_id`` what the ECU
answers on.

.. code-block:: toml

    [diagnostics]                     # bench file
    transport = "isotp"               # how the DUT is reached (harness.diag.transport)
    channel = "body"                  # the bench CAN channel (default: the only one)
    profile = "../dut/bcm.toml"       # DIDs, DTCs, routines by name
    addressing = "normal"             # normal | normal_29 | extended | extended_29 |
                                      # mixed | mixed_29 | fixed_29
    request_id = 0x7E0
    response_id = 0x7E8
    functional_id = 0x7DF             # functional requests (and OBD-II)
    padding = 0xCC                    # pad frames to 8 bytes; false: no padding
    can_fd = false                    # ISO-TP over CAN FD (ISO 15765-2:2016; the channel fd = true)
    frame_size = 64                   # TX_DL with can_fd: 8, 12, 16, 20, 24, 32, 48 or 64
    max_payload = 4095                # the longest message received (above 4095: FF escape)
    stmin_ms = 0                      # STmin the tester asks for in its flow control
    block_size = 8
    p2_ms = 150                       # P2 client: first response
    p2_star_ms = 5000                 # P2* client: after responsePending (0x78)

    [diagnostics.doip]                # transport = "doip" (ISO 13400-2)
    host = "192.168.0.10"             # the DoIP entity (edge node)
    port = 13400                      # TCP data port (3496 with tls = true)
    udp_port = 13400                  # vehicle identification, entity status, power mode
    tester_address = 0x0E00           # the tester's logical address (source address)
    target_address = 0x0010           # the DUT's logical address
    activation_type = 0               # 0 default, 1 WWH-OBD, 0xE0 central security
    vin = "WDEMO000000000001"         # optional: identify the entity by VIN first
    eid = "00:1a:2b:3c:4d:5e"         # optional: ... or by EID
    tls = false
    simulation = "bcm"                # a simulated ECU's entity: host and ports from it

    [diagnostics.security]
    seed_key = "harness.diag.seedkey:xor_constant"   # or an entry point name
    params = { mask = 0x5A3CC3A5 }

Extended addressing adds ``tester_address`` and ``ecu_address`` (the N_TA/N_SA
bytes); mixed adds ``address_extension``; ``fixed_29`` and ``mixed_29`` build the
29-bit identifiers from ``tester_address`` and ``ecu_address`` alone. Every
mistake is a ConfigError naming the file and key, with a suggestion for typos.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import isotp

from harness.datafile import Table, suggest
from harness.diag.profile import DutProfile, int_in, load_profile
from harness.diag.seedkey import SeedKey, load_seed_key
from harness.diag.transport import TRANSPORTS

_11 = 0x7FF
_29 = 0x1FFFFFFF

ADDRESSING: dict[str, tuple[isotp.AddressingMode, tuple[str, ...], int]] = {
    "normal": (isotp.AddressingMode.Normal_11bits, ("request_id", "response_id"), _11),
    "normal_29": (isotp.AddressingMode.Normal_29bits, ("request_id", "response_id"), _29),
    "extended": (
        isotp.AddressingMode.Extended_11bits,
        ("request_id", "response_id", "tester_address", "ecu_address"),
        _11,
    ),
    "extended_29": (
        isotp.AddressingMode.Extended_29bits,
        ("request_id", "response_id", "tester_address", "ecu_address"),
        _29,
    ),
    "mixed": (
        isotp.AddressingMode.Mixed_11bits,
        ("request_id", "response_id", "address_extension"),
        _11,
    ),
    "mixed_29": (
        isotp.AddressingMode.Mixed_29bits,
        ("tester_address", "ecu_address", "address_extension"),
        _29,
    ),
    "fixed_29": (isotp.AddressingMode.NormalFixed_29bits, ("tester_address", "ecu_address"), _29),
}
"""Mode name -> (can-isotp mode, the keys it needs, the largest CAN ID)."""

_ADDRESS_KEYS = ("request_id", "response_id", "tester_address", "ecu_address", "address_extension")
_NATIVE_FUNCTIONAL = ("mixed_29", "fixed_29")
"""Modes whose functional identifiers can-isotp derives itself (0x18DB..., 0x18CD...)."""

DEFAULT_FUNCTIONAL_ID = 0x7DF
OBD_RESPONSE_IDS = tuple(range(0x7E8, 0x7F0))
"""ISO 15765-4: OBD-II responses come from 0x7E8..0x7EF; each ECU's requests go to ID - 8."""


@dataclass(frozen=True)
class AddressConfig:
    """Who talks to whom: the ISO-TP addressing of one tester-ECU pair."""

    mode: str = "normal"
    request_id: int | None = 0x7E0
    response_id: int | None = 0x7E8
    functional_id: int | None = DEFAULT_FUNCTIONAL_ID
    tester_address: int | None = None
    ecu_address: int | None = None
    address_extension: int | None = None

    @property
    def isotp_mode(self) -> isotp.AddressingMode:
        return ADDRESSING[self.mode][0]

    def tester(self) -> isotp.Address:
        """The tester's side: sends requests, hears responses, sends functional requests on
        ``functional_id`` (or the 29-bit functional identifier)."""
        return TesterAddress(
            functional_id=None if self.mode in _NATIVE_FUNCTIONAL else self.functional_id,
            addressing_mode=self.isotp_mode,
            txid=self.request_id,
            rxid=self.response_id,
            target_address=self.ecu_address,
            source_address=self.tester_address,
            address_extension=self.address_extension,
        )

    def ecu(self) -> isotp.Address:
        """The ECU's side for physical requests (functional ones are filtered out)."""
        address = self._ecu_address(self.request_id)
        if self.mode in _NATIVE_FUNCTIONAL:
            _only_prefix(address, address.physical_id)
        return address

    def ecu_functional(self) -> isotp.Address | None:
        """The ECU's side for functional requests, or None when there are none."""
        if self.mode in _NATIVE_FUNCTIONAL:
            address = self._ecu_address(self.request_id)
            _only_prefix(address, address.functional_id)
            return address
        if self.functional_id is None:
            return None
        return self._ecu_address(self.functional_id)

    def _ecu_address(self, rxid: int | None) -> isotp.Address:
        return isotp.Address(
            addressing_mode=self.isotp_mode,
            txid=self.response_id,
            rxid=rxid,
            target_address=self.tester_address,
            source_address=self.ecu_address,
            address_extension=self.address_extension,
        )

    def describe(self) -> str:
        if self.mode in _NATIVE_FUNCTIONAL:
            return f"{self.mode} tester 0x{self.tester_address:02X} ecu 0x{self.ecu_address:02X}"
        return f"{self.mode} 0x{self.request_id:X}->0x{self.response_id:X}"


class TesterAddress(isotp.Address):
    """A can-isotp Address whose functional requests go out on their own identifier.

    can-isotp derives functional identifiers only for the 29-bit fixed and mixed
    modes; with 11-bit normal addressing the functional request ID (0x7DF) is a
    separate identifier, which this adds.
    """

    def __init__(self, *, functional_id: int | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._functional_txid = functional_id

    def get_tx_arbitration_id(
        self, address_type: isotp.TargetAddressType = isotp.TargetAddressType.Physical
    ) -> int:
        if address_type == isotp.TargetAddressType.Functional and self._functional_txid is not None:
            return self._functional_txid
        return super().get_tx_arbitration_id(address_type)


def _only_prefix(address: isotp.Address, prefix: int) -> None:
    """Narrow a 29-bit fixed/mixed address to one target address type (bits 28-16)."""
    accepts = address.is_for_me

    def is_for_me(msg: isotp.CanMessage) -> bool:
        return (msg.arbitration_id & 0x1FFF0000) == prefix and accepts(msg)

    setattr(address, "is_for_me", is_for_me)  # noqa: B010 - can-isotp binds it per instance


@dataclass(frozen=True)
class IsoTpConfig:
    """ISO-TP settings of one side (ISO 15765-2)."""

    padding: int | None = 0xCC
    """Pad every frame to 8 bytes with this byte; None sends short frames."""
    stmin_ms: float = 0.0
    """Separation time this side asks the sender for in its flow control frames."""
    block_size: int = 8
    """Consecutive frames between flow controls this side asks for (0: no more FCs)."""
    timeout_ms: float = 1000.0
    """N_Bs / N_Cr: how long to wait for a flow control or the next consecutive frame."""
    max_payload: int = 4095
    """The longest message this side accepts; above 4095 bytes first frames carry the 32-bit
    FF_DL escape (ISO 15765-2:2016 9.6.3.2), which can-isotp sends and reads by itself."""
    can_fd: bool = False
    """Send CAN FD frames (the bench channel must be ``fd = true``)."""
    frame_size: int = 8
    """TX_DL: the length of this side's full frames, 8 on classic CAN, up to 64 on CAN FD
    (single frames above 8 bytes then carry the SF_DL escape, ISO 15765-2:2016 9.6.2.1)."""

    def params(self, *, listen: bool = False, logger: str = "isotp") -> dict[str, Any]:
        """can-isotp ``params`` for a stack with these settings."""
        return {
            "stmin": stmin_byte(self.stmin_ms),
            "blocksize": self.block_size,
            "tx_padding": self.padding,
            "tx_data_min_length": 8 if self.padding is not None else None,
            "rx_flowcontrol_timeout": int(self.timeout_ms),
            "rx_consecutive_frame_timeout": int(self.timeout_ms),
            "max_frame_size": self.max_payload,
            "can_fd": self.can_fd,
            "bitrate_switch": self.can_fd,
            "tx_data_length": self.frame_size,
            "blocking_send": True,  # P2 starts once the request is out, not when queued
            "listen_mode": listen,
            "logger_name": logger,
        }


def stmin_byte(ms: float) -> int:
    """The STmin byte of a flow control frame: 0..127 ms, or 0xF1..0xF9 for 100..900 us.

    >>> stmin_byte(5), stmin_byte(0.3)
    (5, 243)
    """
    if 0 < ms < 1:
        return 0xF0 + max(1, min(9, round(ms * 10)))
    return min(127, round(ms))


@dataclass(frozen=True)
class DoipConfig:
    """Where the tester finds the DoIP entity and who it is on it (ISO 13400-2)."""

    host: str = "127.0.0.1"
    port: int = 13400
    udp_port: int = 13400
    tester_address: int = 0x0E00
    target_address: int = 0x0010
    activation_type: int = 0
    vin: str | None = None
    eid: bytes | None = None
    tls: bool = False
    simulation: str | None = None
    """A simulated ECU of the bench whose entity this is: the bench fills in its ports."""


def parse_doip(table: Table) -> DoipConfig:
    """A ``[diagnostics.doip]`` table."""
    host = table.optional_str("host") or "127.0.0.1"
    tls = table.boolean("tls", False)
    port = _int(table, "port", 3496 if tls else 13400, 0, 0xFFFF)
    udp_port = _int(table, "udp_port", 13400, 0, 0xFFFF)
    tester = _int(table, "tester_address", 0x0E00, 0, 0xFFFF)
    target = _int(table, "target_address", 0x0010, 0, 0xFFFF)
    activation = _int(table, "activation_type", 0, 0, 0xFF)
    vin = table.optional_str("vin")
    if vin is not None and len(vin) != 17:
        raise table.error("vin", f"a VIN has 17 characters, got {len(vin)} ({vin!r})")
    eid_text = table.optional_str("eid")
    eid = None
    if eid_text is not None:
        try:
            eid = bytes.fromhex(eid_text.replace(":", "").replace("-", ""))
        except ValueError:
            eid = b""
        if len(eid) != 6:
            raise table.error("eid", f"an EID is 6 bytes (a MAC address), got {eid_text!r}")
    simulation = table.optional_str("simulation")
    table.finish()
    return DoipConfig(host, port, udp_port, tester, target, activation, vin, eid, tls, simulation)


def _int(table: Table, key: str, default: int, low: int, high: int) -> int:
    value = table.optional_int(key, minimum=low)
    if value is None:
        return default
    if value > high:
        raise table.error(key, f"expected an integer {low}..0x{high:X}, got {value}")
    return value


@dataclass(frozen=True)
class SecurityConfig:
    """How the tester computes keys (bench file)."""

    seed_key: SeedKey


@dataclass(frozen=True)
class DiagConfig:
    """The tester side of a bench: where the DUT is and how to talk to it."""

    source: str
    channel: str
    """The bench CAN channel of the DUT (ISO-TP, OBD-II); empty on a DoIP-only bench."""
    transport: str = "isotp"
    """How the tester reaches the DUT: a name in :data:`harness.diag.transport.TRANSPORTS`."""
    address: AddressConfig = field(default_factory=AddressConfig)
    isotp: IsoTpConfig = field(default_factory=IsoTpConfig)
    """ISO-TP settings (ISO 15765-2) of this side."""
    doip: DoipConfig | None = None
    """``[diagnostics.doip]``: the DoIP entity, for ``transport = "doip"``."""
    p2: float = 0.15
    p2_star: float = 5.0
    profile: DutProfile | None = None
    security: SecurityConfig | None = None
    obd_response_ids: tuple[int, ...] = OBD_RESPONSE_IDS
    obd_window: float = 0.1
    """Seconds an OBD-II request waits for ECUs it has not heard from yet."""
    use_server_timing: bool = False
    """Take P2/P2* from the ECU's DiagnosticSessionControl response instead."""
    flashing: bool = False
    """The bench may reprogram the DUT (RequestDownload/TransferData): suites that would
    leave a real ECU half-flashed run only where this is set."""


def parse_diagnostics(table: Table, base: Path, channels: list[str]) -> DiagConfig:
    """A bench file's ``[diagnostics]`` (the tester's side); ``channels`` are the bench's
    CAN channel names, ``base`` the folder paths are relative to. Over DoIP a bench may
    have no CAN channel at all (``channel`` is then empty)."""
    channel = table.optional_str("channel") or (channels[0] if len(channels) == 1 else "")
    if not channel and not channels and table.data.get("transport") == "doip":
        return parse_tester(table, base, "")  # DoIP only: no CAN channel to name
    if channel not in channels:
        raise table.error(
            "channel",
            f"name the bench CAN channel the DUT is on{suggest(channel, channels)}; "
            f"channels: {', '.join(channels) or 'none'}",
        )
    return parse_tester(table, base, channel)


def parse_tester(table: Table, base: Path, channel: str) -> DiagConfig:
    """A tester ``[diagnostics]`` table (``channel`` already read by the caller)."""
    profile = _profile(table, base)
    transport = table.optional_str("transport") or "isotp"
    if transport not in TRANSPORTS:
        known = TRANSPORTS.names()
        raise table.error(
            "transport",
            f"no diagnostic transport {transport!r}{suggest(transport, known)}; "
            f"transports: {', '.join(known)}",
        )
    address = parse_address(table)
    isotp = parse_isotp(table)
    doip_table = table.table("doip")
    doip = parse_doip(doip_table) if doip_table.data else None
    if transport == "doip" and doip is None:
        raise table.error("doip", 'transport = "doip" needs a [diagnostics.doip] table')
    p2 = table.number("p2_ms", 150.0) / 1000
    p2_star = table.number("p2_star_ms", 5000.0) / 1000
    security_table = table.table("security")
    security = None
    if security_table.data:
        spec = security_table.required_str("seed_key")
        params = security_table.free_form("params")
        seed_key = load_seed_key(spec, params, table.source, security_table.key("seed_key"))
        security = SecurityConfig(seed_key)
        security_table.finish()
    obd = table.table("obd")
    ids = obd.data.get("response_ids", list(OBD_RESPONSE_IDS))
    obd.accept("response_ids")
    if not isinstance(ids, list) or not ids or not all(_is_can_id(i) for i in ids):
        raise obd.error("response_ids", f"expected a list of CAN IDs, got {ids!r}")
    window = obd.number("window_ms", 100.0) / 1000
    obd.finish()
    config = DiagConfig(
        source=table.source,
        channel=channel,
        transport=transport,
        address=address,
        isotp=isotp,
        doip=doip,
        p2=p2,
        p2_star=p2_star,
        profile=profile,
        security=security,
        obd_response_ids=tuple(ids),
        obd_window=window,
        use_server_timing=table.boolean("use_server_timing", False),
        flashing=table.boolean("flashing", False),
    )
    table.finish()
    return config


def _is_can_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _29


def _profile(table: Table, base: Path) -> DutProfile | None:
    text = table.optional_str("profile")
    if text is None:
        return None
    path = (base / text).resolve()
    if not path.is_file():
        raise table.error("profile", f"DUT profile not found: {path}")
    return load_profile(path)


def parse_address(table: Table) -> AddressConfig:
    """The addressing keys of a ``[diagnostics]`` table (either side)."""
    mode = table.optional_str("addressing") or "normal"
    if mode not in ADDRESSING:
        raise table.error(
            "addressing",
            f"unknown addressing mode {mode!r}{suggest(mode, list(ADDRESSING))}; "
            f"modes: {', '.join(ADDRESSING)}",
        )
    _, needed, max_id = ADDRESSING[mode]
    values: dict[str, int | None] = {}
    for key in _ADDRESS_KEYS:
        high = max_id if key.endswith("_id") else 0xFF
        value = int_in(table, key, 0, high)
        if value is not None and key not in needed:
            raise table.error(
                key, f"not used with addressing {mode!r} (it uses {', '.join(needed)})"
            )
        if value is None and key in needed:
            default = {"request_id": 0x7E0, "response_id": 0x7E8}.get(key)
            if default is None or mode != "normal":
                raise table.error(key, f"missing: addressing {mode!r} needs {', '.join(needed)}")
            value = default
        values[key] = value
    functional = int_in(table, "functional_id", 0, max_id)
    if functional is not None and mode in _NATIVE_FUNCTIONAL:
        raise table.error("functional_id", f"addressing {mode!r} derives the functional ID itself")
    if functional is None and mode == "normal":
        functional = DEFAULT_FUNCTIONAL_ID
    if values["request_id"] is not None and values["request_id"] == values["response_id"]:
        raise table.error("response_id", "must differ from request_id")
    address = AddressConfig(mode=mode, functional_id=functional, **values)
    try:
        address.tester()
        address.ecu()
    except ValueError as exc:  # can-isotp's own validation, as a last resort
        raise table.error("addressing", f"not a valid {mode} address: {exc}") from exc
    return address


def parse_isotp(table: Table) -> IsoTpConfig:
    """The ISO-TP keys of a ``[diagnostics]`` table (either side)."""
    raw = table.data.get("padding", 0xCC)
    table.accept("padding")
    if raw is False:
        padding = None
    elif isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw <= 0xFF:
        padding = raw
    else:
        raise table.error("padding", f"expected a byte (0xCC) or false, got {raw!r}")
    stmin = table.number("stmin_ms", 0.0)
    if stmin > 127:
        raise table.error("stmin_ms", f"expected 0..127 ms (ISO 15765-2), got {stmin:g}")
    block_size = int_in(table, "block_size", 0, 0xFF)
    max_payload = int_in(table, "max_payload", 8, 0xFFFFFFFF)
    can_fd, frame_size = parse_frame_format(table)
    return IsoTpConfig(
        padding=padding,
        stmin_ms=stmin,
        block_size=8 if block_size is None else block_size,
        timeout_ms=table.number("timeout_ms", 1000.0, minimum=1.0),
        max_payload=max_payload or 4095,
        can_fd=can_fd,
        frame_size=frame_size,
    )


FRAME_SIZES = (8, 12, 16, 20, 24, 32, 48, 64)
"""The TX_DL values ISO 15765-2:2016 allows (the CAN FD data lengths from 8 up)."""


def parse_frame_format(table: Table) -> tuple[bool, int]:
    """``can_fd`` and ``frame_size`` (TX_DL) of a table: 64 by default on CAN FD, 8 on classic."""
    can_fd = table.boolean("can_fd", False)
    size = int_in(table, "frame_size", 0, 0xFF)
    if size is None:
        return can_fd, 64 if can_fd else 8
    if size not in FRAME_SIZES:
        sizes = ", ".join(map(str, FRAME_SIZES))
        raise table.error("frame_size", f"expected a TX_DL of {sizes} (ISO 15765-2), got {size}")
    if size > 8 and not can_fd:
        raise table.error("frame_size", f"{size}-byte frames need CAN FD (add can_fd = true)")
    return can_fd, size
