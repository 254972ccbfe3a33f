"""A UDS server (ISO 14229-1) on can-isotp for simulated ECUs, configured by the ECU file.

It answers physical requests on ``request_id`` and functional ones on
``functional_id`` (single frames), from one worker thread, in order:

- DiagnosticSessionControl 0x10 (default/programming/extended; S3 falls back to default),
  ECUReset 0x11, SecurityAccess 0x27 (seed-key plugin, attempt counter, lock-out delay),
  TesterPresent 0x3E (suppress-positive-response bit), Read/WriteDataByIdentifier
  0x22/0x2E (per-DID session and security), ReadDTCInformation 0x19 (0x01, 0x02, 0x0A),
  ClearDiagnosticInformation 0x14, RoutineControl 0x31 (responsePending 0x78 for slow
  routines), CommunicationControl 0x28, ControlDTCSetting 0x85, and RequestDownload /
  TransferData / RequestTransferExit 0x34/0x36/0x37 with block sequence counter checks;
- OBD-II modes 0x01-0x09 through :class:`~harness.sim.obd.ObdResponder`;
- negative responses in ISO 14229-1's order of checks (0x11, 0x7F, 0x13, 0x12, 0x7E,
  then 0x31, 0x33, 0x22, 0x24, 0x35, 0x36, 0x37, 0x73...), and for functional requests
  0x11, 0x12, 0x31, 0x7E and 0x7F are suppressed, as the standard says.

Requests and responses are parsed and built with udsoncan's ``Request``/``Response``.
Seeded diagnostic faults (:data:`harness.sim.ecu.DIAGNOSTIC_FAULTS`) change the
behaviour while switched on. Attached to a :class:`~harness.sim.ecu.SimulatedEcu` with
:func:`attach_server`, it runs while the ECU is powered.

Tests wait for the server's state instead of sleeping::

    server.wait_until(lambda s: s.session == "default", timeout=1.0)
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import isotp
from udsoncan import MemoryLocation
from udsoncan.BaseService import BaseService
from udsoncan.Request import Request
from udsoncan.Response import Response

from harness import clock
from harness.canbus.database import default_value
from harness.diag.names import RESPONSE_PENDING, SESSIONS, service_name, session_name
from harness.diag.transport.on_can import ChannelStack
from harness.exceptions import HarnessError, UnknownNameError
from harness.sim.obd import ObdResponder
from harness.sim.uds.config import SERVICE_IDS, ServerConfig, parse_server
from harness.sim.uds.stack import Deviation, EcuStack

if TYPE_CHECKING:
    from harness.canbus.channel import Channel
    from harness.canbus.frame import Frame
    from harness.sim.ecu import SimulatedEcu

log = logging.getLogger(__name__)

SUPPRESSED_WHEN_FUNCTIONAL = frozenset({0x11, 0x12, 0x31, 0x7E, 0x7F})
"""NRCs a server never sends to a functional request (ISO 14229-1, 7.5)."""
SPR_SERVICES = frozenset({0x10, 0x11, 0x27, 0x28, 0x31, 0x3E, 0x85})
"""Services whose sub-function carries the suppressPosRspMsgIndicationBit."""
SUBFUNCTIONS: dict[int, frozenset[int]] = {
    0x10: frozenset(SESSIONS[s] for s in ("default", "programming", "extended")),
    0x11: frozenset({1, 2, 3}),
    0x19: frozenset({0x01, 0x02, 0x0A}),
    0x28: frozenset({0, 1, 2, 3}),
    0x31: frozenset({1, 2, 3}),
    0x3E: frozenset({0x00}),
    0x85: frozenset({1, 2}),
}
MAX_DIDS_PER_READ = 8
REBOOT_TIME = 0.5
"""Seconds a simulated ECU stays silent when a seeded fault crashes it (watchdog reset)."""
_ACTIVE_SESSION_DID = 0xF186
_CLEARED = 0x00


class _NrcError(Exception):
    """A negative response a handler decided on."""

    def __init__(self, code: int) -> None:
        super().__init__(f"NRC 0x{code:02X}")
        self.code = code


@dataclass(frozen=True)
class ServerState:
    """What the server's state is now (a snapshot, for tests and evidence)."""

    session: str = "default"
    security_level: int | None = None
    """The unlocked level (the odd requestSeed sub-function), None when locked."""
    failed_attempts: int = 0
    locked_out: bool = False
    download_active: bool = False
    transmit_enabled: bool = True
    """CommunicationControl: normal messages transmitted."""
    dtc_setting_on: bool = True
    requests: int = 0
    resets: int = 0


@dataclass
class _Download:
    address: int
    size: int
    data: bytearray
    counter: int = 0
    """The last block sequence counter accepted (0: none yet)."""


class UdsServer:
    """The UDS server of one simulated ECU, on a channel of its own.

    ``faults`` returns the diagnostic fault primitives switched on now;
    ``on_transmit`` is called with False/True when CommunicationControl disables or
    enables the ECU's normal messages.
    """

    def __init__(
        self,
        config: ServerConfig,
        channel: Channel,
        *,
        name: str = "",
        faults: Callable[[], Collection[str]] = frozenset,
        on_transmit: Callable[[bool], None] | None = None,
        on_reboot: Callable[[], None] | None = None,
    ) -> None:
        self.config = config
        self.channel = channel
        self.name = name or channel.name
        self._faults = faults
        self._on_transmit = on_transmit
        self._on_reboot = on_reboot
        self._cond = threading.Condition(threading.RLock())
        self._inbox: queue.Queue[tuple[bytes, bool] | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._stacks: list[tuple[ChannelStack, bool]] = []
        self._running = False
        self._latest: dict[str, Any] = {}
        self.obd = (
            ObdResponder(config.obd, signal=self.signal, vin=self._vin, faults=faults)
            if config.obd is not None
            else None
        )
        self.values: dict[int, bytes] = {}
        self.dtcs: dict[int, int] = {}
        self.downloaded: bytes | None = None
        """The image of the last completed download (RequestTransferExit)."""
        self.errors: list[str] = []
        """Unexpected failures inside the server (each also answered generalReject)."""
        self._state = ServerState()
        self._seed: tuple[int, bytes] | None = None
        self._lockout_until: float | None = None
        self._s3_deadline: float | None = None
        self._download: _Download | None = None
        self._routines_started: set[int] = set()
        self.power_on_reset()

    # -- lifetime (the SimulatedEcu Service protocol) -----------------------------

    def power_on_reset(self) -> None:
        """Everything as after power-on: DID values (written ones too) and DTCs as the file
        says, default session, no lock-out; every start (power-on) does this."""
        with self._cond:
            self.values = dict(self.config.values)
            self.dtcs = dict(self.config.dtcs)
            self._reset_session_state(resets=0)
            self._lockout_until = None
            self._state = replace(self._state, failed_attempts=0, locked_out=False, requests=0)
            if self.obd is not None:
                self.obd.dtcs = list(self.config.obd.dtcs) if self.config.obd else []
            self._cond.notify_all()

    def start(self) -> None:
        if self._running:
            return
        self.power_on_reset()
        # seeded ISO-TP faults (STmin ignored, no padding) apply per frame, also when
        # switched on while the server runs
        physical = EcuStack(
            self.channel,
            self.config.address.ecu(),
            self.config.isotp,
            deviation=lambda: Deviation.from_faults(self._faults()),
        )
        stacks: list[tuple[ChannelStack, bool]] = [(physical, False)]
        functional_address = self.config.address.ecu_functional()
        if functional_address is not None:
            listener = ChannelStack(
                self.channel, functional_address, self.config.isotp, listen=True
            )
            stacks.append((listener, True))
        self._stacks = stacks
        self._inbox = queue.Queue()
        self._running = True
        self.channel.subscribe(self._on_frame)
        for stack, _ in stacks:
            stack.start()
        self._threads = [
            threading.Thread(
                target=self._receive,
                args=(stack, functional),
                daemon=True,
                name=f"uds {self.name} rx{'-functional' if functional else ''}",
            )
            for stack, functional in stacks
        ]
        self._threads.append(
            threading.Thread(target=self._work, daemon=True, name=f"uds {self.name}")
        )
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        if not self._running:
            return
        self._running = False
        self.channel.unsubscribe(self._on_frame)
        self._inbox.put(None)
        for stack, _ in self._stacks:
            stack.rx_queue.put(bytearray())  # wakes its receiver (ISO-TP never delivers b"")
        with self._cond:
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(2.0)
        for stack, _ in self._stacks:
            stack.stop()
        self._threads = []
        self._stacks = []

    @property
    def running(self) -> bool:
        return self._running

    @property
    def transport_errors(self) -> list[str]:
        """ISO-TP errors the server's stacks met (malformed or missing frames), newest last."""
        return [f"{type(e).__name__}: {e}" for stack, _ in self._stacks for e in stack.errors]

    # -- state for tests ----------------------------------------------------------

    @property
    def state(self) -> ServerState:
        with self._cond:
            return self._state

    def wait_until(self, predicate: Callable[[ServerState], bool], timeout: float) -> bool:
        """Block until ``predicate(state)`` holds (True) or ``timeout`` passes (False).

        Timers (S3, the security delay) run on the server's own thread, so this
        returns the moment the server changes state.
        """
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self._state), timeout)

    def dtc_status(self, ref: str | int) -> int:
        code = self.config.profile.dtc(ref).code
        with self._cond:
            return self.dtcs.get(code, _CLEARED)

    def report_dtc(self, ref: str | int, status: int = 0x2F) -> bool:
        """The ECU detects a fault: set a DTC's status, unless ControlDTCSetting is off.

        Returns whether the status changed.
        """
        code = self.config.profile.dtc(ref).code
        with self._cond:
            if not self._state.dtc_setting_on:
                return False
            self.dtcs[code] = status
            return True

    def value(self, ref: str | int) -> bytes:
        did = self.config.profile.did(ref)
        with self._cond:
            return self._did_value(did.id)

    def signal(self, message: str, signal: str) -> Any:
        """The latest value of a signal the ECU received, else the database's initial value."""
        latest = self._latest.get(message)
        if latest is not None and signal in latest:
            return latest[signal]
        db = self.channel.db
        if db is None:
            return 0
        return default_value(db.message(message).get_signal_by_name(signal))

    def _on_frame(self, frame: Frame) -> None:
        if frame.name is not None and frame.signals:
            self._latest[frame.name] = frame.signals

    def _vin(self) -> str:
        try:
            did = self.config.profile.did("VIN")
        except UnknownNameError:
            return ""
        with self._cond:
            return self._did_value(did.id).decode("ascii", errors="replace")

    # -- threads --------------------------------------------------------------------

    def _receive(self, stack: ChannelStack, functional: bool) -> None:
        while self._running:
            data = stack.recv(block=True, timeout=1.0)
            if data:
                self._inbox.put((bytes(data), functional))

    def _work(self) -> None:
        while self._running:
            try:
                item = self._inbox.get(timeout=self._next_timer())
            except queue.Empty:
                item = None
            with self._cond:
                self._run_timers()
            if item is None:
                continue
            payload, functional = item
            for response in self._serve(payload, functional):
                self._send(response)

    def _next_timer(self) -> float | None:
        with self._cond:
            deadlines = [d for d in (self._s3_deadline, self._lockout_until) if d is not None]
        if not deadlines:
            return None
        return max(0.0, min(deadlines) - clock.now())

    def _run_timers(self) -> None:
        now = clock.now()
        if self._lockout_until is not None and now >= self._lockout_until:
            self._lockout_until = None
            self._state = replace(self._state, locked_out=False, failed_attempts=0)
            self._cond.notify_all()
        if self._s3_deadline is not None and now >= self._s3_deadline:
            self._s3_deadline = None
            if "s3_ignored" not in self._faults() and self._state.session != "default":
                log.debug("%s: S3 expired, back to the default session", self.name)
                self._enter_session(SESSIONS["default"])
                self._cond.notify_all()

    def _send(self, payload: bytes) -> None:
        stack = self._stacks[0][0] if self._stacks else None
        if stack is None:
            return
        try:
            stack.send(payload, send_timeout=self.config.p2_star)
        except (isotp.BlockingSendFailure, RuntimeError) as exc:
            log.debug("%s: response not sent: %s", self.name, exc)

    # -- the request pipeline -----------------------------------------------------------

    def _serve(self, payload: bytes, functional: bool) -> list[bytes]:
        """Responses to send for one request (empty: stay silent)."""
        faults = self._faults()
        sent_pending = False
        sid = payload[0]
        with self._cond:
            self._state = replace(self._state, requests=self._state.requests + 1)
            try:
                reply = self._dispatch(payload, functional, faults)
            except _NrcError as nrc:
                reply = self._negative(sid, nrc.code, faults)
            except _Pending as pending:
                sent_pending = True
                self._send(self._negative(sid, RESPONSE_PENDING, faults))
                reply = self._finish_pending(pending)
            except Exception as exc:  # the server must never die on a request
                log.exception("%s: %s failed", self.name, service_name(sid))
                self.errors.append(f"{service_name(sid)} {payload[:8].hex(' ')}: {exc!r}")
                reply = self._negative(sid, 0x10, faults)
            self._touch_s3()
            self._cond.notify_all()
        if reply is None:
            return []
        if reply[0] == 0x7F:
            if functional and reply[2] in SUPPRESSED_WHEN_FUNCTIONAL:
                return []
            return [reply]
        suppress = (
            sid in SPR_SERVICES
            and len(payload) > 1
            and payload[1] & 0x80
            and not sent_pending
            and "suppress_bit_ignored" not in faults
        )
        return [] if suppress else [reply]

    def _negative(self, sid: int, code: int, faults: Collection[str]) -> bytes:
        if code == 0x13 and "short_request_wrong_nrc" in faults:
            code = 0x31
        service = BaseService.from_request_id(sid)
        if service is None:
            return bytes([0x7F, sid, code])
        return Response(service=service, code=code).get_payload()

    @staticmethod
    def _positive(sid: int, data: bytes) -> bytes:
        service = BaseService.from_request_id(sid)
        assert service is not None, f"no udsoncan service for 0x{sid:02X}"
        return Response(
            service=service, code=Response.Code.PositiveResponse, data=data
        ).get_payload()

    def _dispatch(self, payload: bytes, functional: bool, faults: Collection[str]) -> bytes | None:
        sid = payload[0]
        if 0x01 <= sid <= 0x0A:
            if self.obd is None:
                raise _NrcError(0x11)
            return self.obd.respond(payload, functional=functional)
        handler = _HANDLERS.get(sid)
        if handler is None or (sid == 0x27 and self.config.security is None):
            raise _NrcError(0x11)
        allowed = self.config.service_sessions.get(sid)
        if allowed is not None and self._state.session not in allowed:
            raise _NrcError(0x7F)
        request = Request.from_payload(payload)
        if request.service is not None and request.service.use_subfunction():
            if len(payload) < 2:
                raise _NrcError(0x13)
            subfunction = payload[1] if sid == 0x19 else payload[1] & 0x7F
            if sid in SUBFUNCTIONS and subfunction not in SUBFUNCTIONS[sid]:
                raise _NrcError(0x12)
        return handler(self, payload, faults)

    def _touch_s3(self) -> None:
        """Any request restarts S3 in a non-default session."""
        if self._state.session == "default":
            self._s3_deadline = None
        else:
            self._s3_deadline = clock.now() + self.config.s3

    def _finish_pending(self, pending: _Pending) -> bytes:
        """Wait out a slow job, repeating responsePending before P2* runs out."""
        done = clock.Deadline(pending.duration)
        interval = max(self.config.p2_star / 2, 0.001)  # well inside P2*, as real ECUs do
        next_pending = clock.now() + interval
        while self._running and not done.expired():
            self._cond.wait(min(done.remaining(), max(0.0, next_pending - clock.now())))
            if clock.now() >= next_pending and not done.expired():
                self._send(self._negative(pending.sid, RESPONSE_PENDING, ()))
                next_pending += interval
        return pending.reply

    # -- sessions and security ------------------------------------------------------------

    def _enter_session(self, number: int) -> None:
        name = session_name(number)
        leaving = self._state.session
        self._seed = None
        if name == "default":
            self._reset_session_state(resets=self._state.resets)
        else:
            if leaving != name:
                self._download = None  # a transfer does not survive a session change
            self._state = replace(
                self._state,
                session=name,
                security_level=None,
                download_active=self._download is not None,
            )
        if leaving != name:
            log.debug("%s: session %s -> %s", self.name, leaving, name)

    def _reset_session_state(self, *, resets: int) -> None:
        if not self._state.transmit_enabled and self._on_transmit is not None:
            self._on_transmit(True)
        self._seed = None
        self._download = None
        self._routines_started.clear()
        self._s3_deadline = None
        self._state = replace(
            self._state,
            session="default",
            security_level=None,
            download_active=False,
            transmit_enabled=True,
            dtc_setting_on=True,
            resets=resets,
        )

    def _require_security(self, level: int | None) -> None:
        if level is not None and self._state.security_level != level:
            raise _NrcError(0x33)

    def _standstill(self) -> bool:
        condition = self.config.standstill
        return condition is None or condition.test(self.signal(condition.message, condition.signal))

    # -- services -------------------------------------------------------------------

    def _session_control(self, payload: bytes, faults: Collection[str]) -> bytes:
        if len(payload) != 2:
            raise _NrcError(0x13)
        number = payload[1] & 0x7F
        if number == SESSIONS["programming"]:
            if self._state.session not in self.config.programming_from:
                raise _NrcError(0x7E)
            if not self._standstill():
                raise _NrcError(0x22)
        self._enter_session(number)
        p2 = round(self.config.p2 * 1000)
        p2_star = round(self.config.p2_star * 100)
        return self._positive(
            0x10, bytes([number]) + p2.to_bytes(2, "big") + p2_star.to_bytes(2, "big")
        )

    def _ecu_reset(self, payload: bytes, faults: Collection[str]) -> bytes:
        if len(payload) != 2:
            raise _NrcError(0x13)
        if not self._standstill():
            raise _NrcError(0x22)
        kind = payload[1] & 0x7F
        self._reset_session_state(resets=self._state.resets + 1)
        return self._positive(0x11, bytes([kind]))

    def _security_access(self, payload: bytes, faults: Collection[str]) -> bytes:
        security = self.config.security
        assert security is not None
        sub = payload[1] & 0x7F
        seed_levels = set(security.levels)
        if sub not in seed_levels and sub - 1 not in seed_levels:
            raise _NrcError(0x12)
        if sub in seed_levels:  # requestSeed
            if self._state.locked_out:
                raise _NrcError(0x37)
            if self._state.security_level == sub:
                return self._positive(0x27, bytes([sub]) + bytes(security.seed_length))
            seed = _seed(security.seed_length)
            self._seed = (sub, seed)
            return self._positive(0x27, bytes([sub]) + seed)
        level = sub - 1  # sendKey
        key = payload[2:]
        if not key:
            raise _NrcError(0x13)
        if self._state.locked_out:
            raise _NrcError(0x37)
        pending, self._seed = self._seed, None
        if pending is None or pending[0] != level:
            raise _NrcError(0x24)
        expected = security.seed_key.key(level, pending[1])
        long_key = "security_long_key_accepted" in faults and key[: len(expected)] == expected
        if key != expected and not (long_key and len(key) == len(expected) + 1):
            attempts = self._state.failed_attempts + 1
            if attempts >= security.attempts and "security_lockout_never" not in faults:
                self._lockout_until = clock.now() + security.lockout
                self._state = replace(self._state, failed_attempts=attempts, locked_out=True)
                raise _NrcError(0x36)
            self._state = replace(self._state, failed_attempts=attempts)
            raise _NrcError(0x35)
        self._state = replace(self._state, security_level=level, failed_attempts=0)
        return self._positive(0x27, bytes([sub]))

    def _tester_present(self, payload: bytes, faults: Collection[str]) -> bytes:
        if len(payload) != 2:
            raise _NrcError(0x13)
        return self._positive(0x3E, bytes([0x00]))

    def _did_value(self, did: int) -> bytes:
        if did == _ACTIVE_SESSION_DID:
            return bytes([SESSIONS[self._state.session]])
        if did in self.values:
            return self.values[did]
        definition = self.config.profile.did_by_id(did)
        return bytes(definition.length if definition is not None else 0)

    def _read_did(self, payload: bytes, faults: Collection[str]) -> bytes | None:
        body = payload[1:]
        if "reset_on_long_did_list" in faults and not len(body) % 2 and len(body) >= 16:
            self._reboot()
            return None
        if not body or len(body) % 2 or len(body) // 2 > MAX_DIDS_PER_READ:
            raise _NrcError(0x13)
        ids = [int.from_bytes(body[i : i + 2], "big") for i in range(0, len(body), 2)]
        readable = []
        for did in ids:
            definition = self.config.profile.did_by_id(did)
            if definition is not None and self._state.session in definition.sessions:
                readable.append(definition)
        if not readable:
            raise _NrcError(0x31)
        for definition in readable:
            self._require_security(definition.security)
        data = b"".join(d.id.to_bytes(2, "big") + self._did_value(d.id) for d in readable)
        if len(data) + 1 > self.config.isotp.max_payload:
            raise _NrcError(0x14)
        return self._positive(0x22, data)

    def _reboot(self) -> None:
        """A seeded crash: no answer, silence, back after :data:`REBOOT_TIME`. Done off the
        worker thread (this one), since stopping the server joins it."""
        action = self._on_reboot if self._on_reboot is not None else self._restart
        threading.Thread(target=action, daemon=True, name=f"reboot {self.name}").start()

    def _restart(self) -> None:
        """A server without an ECU reboots alone: stopped now, started after the boot time."""
        self.stop()
        timer = threading.Timer(REBOOT_TIME, self.start)
        timer.daemon = True
        timer.start()

    def _write_did(self, payload: bytes, faults: Collection[str]) -> bytes:
        if len(payload) < 4:
            raise _NrcError(0x13)
        did = int.from_bytes(payload[1:3], "big")
        definition = self.config.profile.did_by_id(did)
        if (
            definition is None
            or not definition.writable
            or self._state.session not in definition.write_sessions
        ):
            raise _NrcError(0x31)
        data = payload[3:]
        if len(data) != definition.length:
            raise _NrcError(0x13)
        self._require_security(definition.write_security)
        try:
            definition.decode(data)
        except (ValueError, UnicodeDecodeError):
            raise _NrcError(0x31) from None
        self.values[did] = bytes(data)
        return self._positive(0x2E, payload[1:3])

    def _read_dtcs(self, payload: bytes, faults: Collection[str]) -> bytes:
        sub = payload[1]
        availability = self.config.dtc_availability
        if sub == 0x0A:
            if len(payload) != 2:
                raise _NrcError(0x13)
            records = [
                (d.code, self.dtcs.get(d.code, _CLEARED) & availability)
                for d in self.config.profile.dtcs.values()
            ]
            return self._positive(0x19, bytes([sub, availability]) + _dtc_records(records))
        if len(payload) != 3:
            raise _NrcError(0x13)
        mask = payload[2] & availability
        matching = [(c, s & availability) for c, s in sorted(self.dtcs.items()) if s & mask]
        if sub == 0x01:
            count = len(matching).to_bytes(2, "big")
            return self._positive(0x19, bytes([sub, availability, 0x01]) + count)
        return self._positive(0x19, bytes([sub, availability]) + _dtc_records(matching))

    def _clear_dtcs(self, payload: bytes, faults: Collection[str]) -> bytes:
        if len(payload) not in (4, 5):
            raise _NrcError(0x13)
        group = int.from_bytes(payload[1:4], "big")
        if group == 0xFFFFFF:
            self.dtcs = dict.fromkeys(self.dtcs, _CLEARED)
            if self.obd is not None:
                self.obd.dtcs.clear()
        elif self.config.profile.dtc_by_code(group) is not None:
            self.dtcs[group] = _CLEARED
        else:
            raise _NrcError(0x31)
        return self._positive(0x14, b"")

    def _routine_control(self, payload: bytes, faults: Collection[str]) -> bytes:
        if len(payload) < 4:
            raise _NrcError(0x13)
        action = payload[1] & 0x7F
        rid = int.from_bytes(payload[2:4], "big")
        routine = self.config.profile.routine_by_id(rid)
        if routine is None or self._state.session not in routine.sessions:
            raise _NrcError(0x31)
        self._require_security(routine.security)
        behaviour = self.config.routines.get(rid)
        result = behaviour.result if behaviour is not None else b""
        echo = bytes([action]) + payload[2:4]
        if action == 1:
            self._routines_started.add(rid)
            reply = self._positive(0x31, echo + result)
            duration = behaviour.duration if behaviour is not None else 0.0
            if duration > self.config.p2:
                raise _Pending(0x31, duration, reply)
            return reply
        if rid not in self._routines_started:
            raise _NrcError(0x24)
        if action == 2:
            self._routines_started.discard(rid)
            return self._positive(0x31, echo)
        return self._positive(0x31, echo + result)

    def _communication_control(self, payload: bytes, faults: Collection[str]) -> bytes:
        if len(payload) != 3:
            raise _NrcError(0x13)
        control = payload[1] & 0x7F
        if payload[2] & 0x03 == 0:
            raise _NrcError(0x31)
        if payload[2] & 0x01:  # normal communication messages
            enabled = control in (0, 2)
            if enabled != self._state.transmit_enabled:
                self._state = replace(self._state, transmit_enabled=enabled)
                if self._on_transmit is not None:
                    self._on_transmit(enabled)
        return self._positive(0x28, bytes([control]))

    def _dtc_setting(self, payload: bytes, faults: Collection[str]) -> bytes:
        setting = payload[1] & 0x7F
        self._state = replace(self._state, dtc_setting_on=setting == 1)
        return self._positive(0x85, bytes([setting]))

    def _request_download(self, payload: bytes, faults: Collection[str]) -> bytes:
        if len(payload) < 5:
            raise _NrcError(0x13)
        address_length = payload[2] & 0x0F
        size_length = payload[2] >> 4
        if not (1 <= address_length <= 4 and 1 <= size_length <= 4):
            raise _NrcError(0x31)
        if len(payload) != 3 + address_length + size_length:
            raise _NrcError(0x13)
        if payload[1] != 0x00:  # dataFormatIdentifier: no compression, no encryption
            raise _NrcError(0x31)
        config = self.config.download
        if config is None:
            raise _NrcError(0x31)
        self._require_security(config.security)
        if self._download is not None:
            raise _NrcError(0x22)
        location = MemoryLocation.from_bytes(
            payload[3 : 3 + address_length], payload[3 + address_length :]
        )
        start, size = location.address, location.memorysize
        if size == 0 or start < config.address or start + size > config.address + config.size:
            raise _NrcError(0x31)
        self._download = _Download(start, size, bytearray())
        self._state = replace(self._state, download_active=True)
        return self._positive(0x34, bytes([0x20]) + config.max_block_length.to_bytes(2, "big"))

    def _transfer_data(self, payload: bytes, faults: Collection[str]) -> bytes:
        if len(payload) < 2:
            raise _NrcError(0x13)
        download = self._download
        if download is None:
            raise _NrcError(0x24)
        counter = payload[1]
        block = payload[2:]
        assert self.config.download is not None
        if len(payload) > self.config.download.max_block_length:
            raise _NrcError(0x13)
        if counter == download.counter and download.counter != 0:
            return self._positive(0x36, bytes([counter]))  # a repeated block: not written twice
        expected = (download.counter + 1) & 0xFF
        if counter != expected and "block_counter_unchecked" not in faults:
            raise _NrcError(0x73)
        if len(download.data) + len(block) > download.size:
            raise _NrcError(0x71)
        download.data += block
        download.counter = counter
        return self._positive(0x36, bytes([counter]))

    def _transfer_exit(self, payload: bytes, faults: Collection[str]) -> bytes:
        download = self._download
        if download is None or len(download.data) != download.size:
            raise _NrcError(0x24)
        self.downloaded = bytes(download.data)
        self._download = None
        self._state = replace(self._state, download_active=False)
        return self._positive(0x37, b"")


class _Pending(Exception):  # noqa: N818 - control flow, not an error
    """A handler's job takes longer than P2: answer responsePending, then ``reply``."""

    def __init__(self, sid: int, duration: float, reply: bytes) -> None:
        super().__init__("responsePending")
        self.sid = sid
        self.duration = duration
        self.reply = reply


_HANDLERS: dict[int, Callable[[UdsServer, bytes, Collection[str]], bytes | None]] = {
    0x10: UdsServer._session_control,
    0x11: UdsServer._ecu_reset,
    0x14: UdsServer._clear_dtcs,
    0x19: UdsServer._read_dtcs,
    0x22: UdsServer._read_did,
    0x27: UdsServer._security_access,
    0x28: UdsServer._communication_control,
    0x2E: UdsServer._write_did,
    0x31: UdsServer._routine_control,
    0x34: UdsServer._request_download,
    0x36: UdsServer._transfer_data,
    0x37: UdsServer._transfer_exit,
    0x3E: UdsServer._tester_present,
    0x85: UdsServer._dtc_setting,
}
assert set(_HANDLERS) == set(SERVICE_IDS.values())


def _dtc_records(records: list[tuple[int, int]]) -> bytes:
    return b"".join(code.to_bytes(3, "big") + bytes([status]) for code, status in records)


def _seed(length: int) -> bytes:
    """A random seed that is not all zeros (all zeros means "already unlocked")."""
    while True:
        seed = os.urandom(length)
        if any(seed):
            return seed


def attach_server(ecu: SimulatedEcu) -> UdsServer | None:
    """Give a simulated ECU the UDS server its ECU file describes (None if it has none).

    The server runs while the ECU is powered; its seeded faults switch diagnostic
    faults on and off; CommunicationControl stops and restarts its residual messages;
    a seeded crash (``reset_on_long_did_list``) power-cycles the ECU.
    """
    definition = ecu.definition
    if not definition.diagnostics:
        return None
    config = parse_server(definition.diagnostics, definition.path, definition.db)

    def on_transmit(enabled: bool) -> None:
        residual = ecu.residual
        if residual is None:
            return
        try:
            residual.start() if enabled else residual.stop()
        except HarnessError:
            log.exception("%s: CommunicationControl could not switch messages", ecu.name)

    def on_reboot() -> None:
        # a crash reboots the whole ECU: its messages pause and their counters restart
        ecu.power_off()
        timer = threading.Timer(REBOOT_TIME, ecu.power_on)
        timer.daemon = True
        timer.start()

    server = UdsServer(
        config,
        ecu.channel,
        name=ecu.name,
        faults=lambda: ecu.diagnostic_faults,
        on_transmit=on_transmit,
        on_reboot=on_reboot,
    )
    ecu.attach(server)
    return server
