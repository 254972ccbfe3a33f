"""A UDS server (ISO 14229-1) on can-isotp for simulated ECUs, configured by the ECU file.

It answers physical requests on ``request_id`` and functional ones on
``functional_id`` (single frames), from one worker thread, in order:

- the UDS services of :mod:`harness.sim.uds.services`, one module each (session control,
  ECU reset, security access, tester present, read/write by identifier, DTCs, routines,
  communication control, DTC setting, download), through :data:`SERVICES
  <harness.sim.uds.services.SERVICES>`;
- OBD-II modes 0x01-0x09 through :class:`~harness.sim.obd.ObdResponder`;
- negative responses in ISO 14229-1's order of checks: here the ones every service
  shares (0x11, 0x7F, 0x13 for a missing sub-function, 0x12), then each service's own
  (0x13, 0x7E, 0x31, 0x33, 0x22, 0x24, 0x35, 0x36, 0x37, 0x73...); for functional
  requests 0x11, 0x12, 0x31, 0x7E and 0x7F are suppressed, as the standard says;
- no positive response when the suppressPosRspMsgIndicationBit is set.

This module is the core: threads, the S3 and security-delay timers, dispatch,
responsePending for slow jobs, and the session and security state the services share
(``enter_session``, ``require_security``, ``did_value``...). A new service is a module
in :mod:`harness.sim.uds.services` and its line in ``SERVICES``; nothing here changes.

Requests and responses are parsed and built with udsoncan's ``Request``/``Response``.
Seeded diagnostic faults (:data:`harness.sim.ecu.DIAGNOSTIC_FAULTS`) change the
behaviour while switched on. Attached to a :class:`~harness.sim.ecu.SimulatedEcu` with
:func:`attach_server`, it runs while the ECU is powered.

Tests wait for the server's state instead of sleeping::

    server.wait_until(lambda s: s.session == "default", timeout=1.0)
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import isotp
from udsoncan.BaseService import BaseService
from udsoncan.Request import Request
from udsoncan.Response import Response

from harness import clock
from harness.canbus.database import default_value
from harness.diag.names import RESPONSE_PENDING, SESSIONS, service_name, session_name
from harness.diag.transport.on_can import ChannelStack
from harness.exceptions import HarnessError, UnknownNameError
from harness.sim.obd import ObdResponder
from harness.sim.uds.config import ServerConfig, parse_server
from harness.sim.uds.services import SERVICES
from harness.sim.uds.services.base import NrcError, Pending
from harness.sim.uds.services.download import Transfer
from harness.sim.uds.stack import Deviation, EcuStack

if TYPE_CHECKING:
    from harness.canbus.channel import Channel
    from harness.canbus.frame import Frame
    from harness.sim.ecu import SimulatedEcu

log = logging.getLogger(__name__)

SUPPRESSED_WHEN_FUNCTIONAL = frozenset({0x11, 0x12, 0x31, 0x7E, 0x7F})
"""NRCs a server never sends to a functional request (ISO 14229-1, 7.5)."""
SPR_SERVICES = frozenset(sid for sid, service in SERVICES.items() if service.spr)
"""Services whose sub-function carries the suppressPosRspMsgIndicationBit."""
REBOOT_TIME = 0.5
"""Seconds a simulated ECU stays silent when a seeded fault crashes it (watchdog reset)."""
_ACTIVE_SESSION_DID = 0xF186


Reply = Callable[[bytes], None]
"""Sends one response to the tester whose request is being served."""


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
        self._inbox: queue.Queue[tuple[bytes, bool, Reply] | None] = queue.Queue()
        self._reply: Reply = self._send_isotp
        """Where the responses to the request being served go (worker thread only)."""
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
        self._s3_deadline: float | None = None
        self.seed: tuple[int, bytes] | None = None
        """SecurityAccess: the level and seed of the last requestSeed, until its sendKey."""
        self.lockout_until: float | None = None
        """SecurityAccess: when the lock-out after too many wrong keys ends."""
        self.transfer: Transfer | None = None
        """RequestDownload..RequestTransferExit: the download in progress."""
        self.routines_started: set[int] = set()
        """RoutineControl: routines started in this session."""
        self.power_on_reset()

    # -- lifetime (the SimulatedEcu Service protocol) -----------------------------

    def power_on_reset(self) -> None:
        """Everything as after power-on: DID values (written ones too) and DTCs as the file
        says, default session, no lock-out; every start (power-on) does this."""
        with self._cond:
            self.values = dict(self.config.values)
            self.dtcs = dict(self.config.dtcs)
            self.reset_session_state(resets=0)
            self.lockout_until = None
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

    @state.setter
    def state(self, state: ServerState) -> None:
        """Services change it (``replace(server.state, ...)``); waiters wake."""
        with self._cond:
            self._state = state
            self._cond.notify_all()

    def wait_until(self, predicate: Callable[[ServerState], bool], timeout: float) -> bool:
        """Block until ``predicate(state)`` holds (True) or ``timeout`` passes (False).

        Timers (S3, the security delay) run on the server's own thread, so this
        returns the moment the server changes state.
        """
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self._state), timeout)

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
            return self.did_value(did.id)

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
            return self.did_value(did.id).decode("ascii", errors="replace")

    # -- threads --------------------------------------------------------------------

    def _receive(self, stack: ChannelStack, functional: bool) -> None:
        while self._running:
            data = stack.recv(block=True, timeout=1.0)
            if data:
                self._inbox.put((bytes(data), functional, self._send_isotp))

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
            payload, functional, self._reply = item
            for response in self._serve(payload, functional):
                self._send(response)

    def _next_timer(self) -> float | None:
        with self._cond:
            deadlines = [d for d in (self._s3_deadline, self.lockout_until) if d is not None]
        if not deadlines:
            return None
        return max(0.0, min(deadlines) - clock.now())

    def _run_timers(self) -> None:
        now = clock.now()
        if self.lockout_until is not None and now >= self.lockout_until:
            self.lockout_until = None
            self._state = replace(self._state, locked_out=False, failed_attempts=0)
            self._cond.notify_all()
        if self._s3_deadline is not None and now >= self._s3_deadline:
            self._s3_deadline = None
            if "s3_ignored" not in self._faults() and self._state.session != "default":
                log.debug("%s: S3 expired, back to the default session", self.name)
                self.enter_session(SESSIONS["default"])
                self._cond.notify_all()

    def submit(self, payload: bytes, reply: Reply) -> bool:
        """Serve a request that came over another transport (the DoIP entity of an ECU with
        the server on board), in turn with the ISO-TP ones; its responses, responsePending
        included, go to ``reply`` (on the server's thread). False while it is powered off."""
        if not self._running:
            return False
        self._inbox.put((bytes(payload), False, reply))
        return True

    def _send(self, payload: bytes) -> None:
        self._reply(payload)

    def _send_isotp(self, payload: bytes) -> None:
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
            except NrcError as nrc:
                reply = self._negative(sid, nrc.code, faults)
            except Pending as pending:
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

    def _dispatch(self, payload: bytes, functional: bool, faults: Collection[str]) -> bytes | None:
        sid = payload[0]
        if 0x01 <= sid <= 0x0A:
            if self.obd is None:
                raise NrcError(0x11)
            return self.obd.respond(payload, functional=functional)
        service = SERVICES.get(sid)
        if service is None or not service.supported(self):
            raise NrcError(0x11)
        allowed = self.config.service_sessions.get(sid)
        if allowed is not None and self._state.session not in allowed:
            raise NrcError(0x7F)
        request = Request.from_payload(payload)
        if request.service is not None and request.service.use_subfunction():
            if len(payload) < 2:
                raise NrcError(0x13)
            subfunction = payload[1] & 0x7F if service.spr else payload[1]
            if service.subfunctions is not None and subfunction not in service.subfunctions:
                raise NrcError(0x12)
        return service.handle(self, payload, faults)

    def _touch_s3(self) -> None:
        """Any request restarts S3 in a non-default session."""
        if self._state.session == "default":
            self._s3_deadline = None
        else:
            self._s3_deadline = clock.now() + self.config.s3

    def _finish_pending(self, pending: Pending) -> bytes:
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

    # -- for the services (harness.sim.uds.services: worker thread, lock held) ----------

    def enter_session(self, number: int) -> None:
        """DiagnosticSessionControl (or S3 expiring): security locked again, a pending seed
        dropped; the default session also resets what :meth:`reset_session_state` resets."""
        name = session_name(number)
        leaving = self._state.session
        self.seed = None
        if name == "default":
            self.reset_session_state(resets=self._state.resets)
        else:
            if leaving != name:
                self.transfer = None  # a transfer does not survive a session change
            self._state = replace(
                self._state,
                session=name,
                security_level=None,
                download_active=self.transfer is not None,
            )
        if leaving != name:
            log.debug("%s: session %s -> %s", self.name, leaving, name)

    def reset_session_state(self, *, resets: int) -> None:
        """The default session with nothing of the last one left (ECUReset, power-on)."""
        if not self._state.transmit_enabled and self._on_transmit is not None:
            self._on_transmit(True)
        self.seed = None
        self.transfer = None
        self.routines_started.clear()
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

    def require_security(self, level: int | None) -> None:
        """securityAccessDenied (0x33) unless ``level`` (None: none needed) is unlocked."""
        if level is not None and self._state.security_level != level:
            raise NrcError(0x33)

    def standstill(self) -> bool:
        """Whether the ECU file's standstill condition holds (true without one)."""
        condition = self.config.standstill
        return condition is None or condition.test(self.signal(condition.message, condition.signal))

    def did_value(self, did: int) -> bytes:
        """A DID's value now: written, from the ECU file, else zeros of its length."""
        if did == _ACTIVE_SESSION_DID:
            return bytes([SESSIONS[self._state.session]])
        if did in self.values:
            return self.values[did]
        definition = self.config.profile.did_by_id(did)
        return bytes(definition.length if definition is not None else 0)

    def set_transmit(self, enabled: bool) -> None:
        """CommunicationControl: the ECU's normal messages on or off (``on_transmit``)."""
        if enabled != self._state.transmit_enabled:
            self._state = replace(self._state, transmit_enabled=enabled)
            if self._on_transmit is not None:
                self._on_transmit(enabled)

    def reboot(self) -> None:
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


def attach_server(
    ecu: SimulatedEcu, channels: Mapping[str, Channel] | None = None
) -> UdsServer | None:
    """Give a simulated ECU the UDS server its ECU file describes (None if it has none).

    The ``diagnostics`` row of :data:`harness.sim.ecu.SERVICES` (``channels``: unused, it
    answers on the ECU's own channel). The server runs while the ECU is powered; its
    seeded faults switch diagnostic faults on and off; CommunicationControl stops and
    restarts its residual messages; a seeded crash (``reset_on_long_did_list``)
    power-cycles the ECU.
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
