"""Simulated ECUs, defined as data: which DBC node, its messages, its rules and its faults.

An ECU file (TOML, ``fixtures/ecus/*.toml``) says:

- ``[ecu]``: ``name``, ``node`` (the DBC node it plays), ``dbc`` (relative to the file);
- ``[messages.NAME]``: ``period_ms``, ``enabled``, ``on_change`` (also send at once
  when a signal changes), protection (``counter``, ``checksum``,
  ``algorithm``, ``data_id``...) and ``[messages.NAME.initial]`` signal values;
- ``[[rules]]``: *when* a received message's signal satisfies a condition (and the
  ``guards`` on the latest values of other messages hold), *set* signals of one of
  its own messages, ``after_ms`` later;
- ``[faults.NAME]``: seeded bugs, each with a ``description`` of what it breaks, made
  of primitives: ``disable_rules``, ``skip_guards``, ``delay_rules_ms``,
  ``message_faults`` (residual-bus faults, optionally ``after_s`` from power-on),
  ``diagnostic`` (names from :data:`DIAGNOSTIC_FAULTS`, honoured by the UDS server) and
  ``modem`` (names from :data:`MODEM_FAULTS`, honoured by the report of a linked modem),
  ``routing`` (gateway route faults, see :mod:`harness.sim.gateway`);
- ``[diagnostics]``: the ECU's UDS server (read by :mod:`harness.sim.uds.config`);
- ``[gateway]``: the routing table of a gateway ECU (read by :mod:`harness.sim.gateway`).

A condition is ``{ message, signal, <op> = value }`` with op one of ``equals``,
``not_equals``, ``above``, ``below``, ``at_least``, ``at_most``, ``one_of``. Rules
are data, never code: a file cannot run Python.

Hooks for other layers (diagnostic server, serial devices) attach as
:class:`Service` objects that start and stop with the ECU's power.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

from harness import clock
from harness.canbus.database import SignalDatabase, default_value
from harness.canbus.expect import Matcher, value_matches
from harness.canbus.protection import Protection
from harness.datafile import Table, read_toml, suggest
from harness.exceptions import ConfigError, HarnessError, UnknownNameError
from harness.plugins import Registry
from harness.sim.nodes import FAULT_KINDS, Fault, MessageSettings, SimulatedNodes
from harness.sim.scheduler import Scheduler

if TYPE_CHECKING:
    from harness.canbus.channel import Channel
    from harness.canbus.frame import Frame

log = logging.getLogger(__name__)

OPERATORS: dict[str, Callable[[Any], Callable[[Any], bool]]] = {
    "equals": lambda wanted: lambda v: value_matches(v, wanted),
    "not_equals": lambda wanted: lambda v: not value_matches(v, wanted),
    "above": lambda limit: lambda v: _num(v) > limit,
    "below": lambda limit: lambda v: _num(v) < limit,
    "at_least": lambda limit: lambda v: _num(v) >= limit,
    "at_most": lambda limit: lambda v: _num(v) <= limit,
    "one_of": lambda choices: lambda v: any(value_matches(v, c) for c in choices),
}


DIAGNOSTIC_FAULTS: dict[str, str] = {
    "security_lockout_never": "SecurityAccess never locks out, however many keys are wrong",
    "short_request_wrong_nrc": "too-short requests get requestOutOfRange (0x31), not 0x13",
    "s3_ignored": "a non-default session never times out back to the default session",
    "suppress_bit_ignored": "positive responses are sent even with the suppress bit set",
    "block_counter_unchecked": "TransferData accepts any block sequence counter",
    "isotp_stmin_ignored": "ISO-TP: consecutive frames go out back to back, whatever STmin",
    "isotp_no_padding": "ISO-TP: frames go out unpadded (shortest DLC), padding ignored",
    "security_long_key_accepted": "SecurityAccess accepts a key one byte longer than the right one",
    "reset_on_long_did_list": "the ECU reboots on a ReadDataByIdentifier asking for 8+ DIDs",
    "obd_bitmap_overclaims": "OBD mode 01 support bitmaps name a PID the ECU does not answer",
    "obd_vin_truncated": "OBD mode 09 returns the VIN one character short",
}
"""Diagnostic fault primitives a seeded fault can name (``diagnostic = [...]``)."""

MODEM_FAULTS: dict[str, str] = {
    "registration_stuck": "the status message keeps the last registered state after the "
    "modem lost the network",
    "signal_in_bars": "the status message gives the signal as 0..5 bars, not +CSQ rssi 0..31",
    "unknown_signal_as_zero": "the status message gives 0, not 99, when the signal is unknown",
}
"""Fault primitives of an ECU's report of its modem (``modem = [...]``), honoured by
:class:`harness.sim.modem.ModemReport`."""


DOIP_FAULTS: dict[str, str] = {
    "wrong_nack_code": "a diagnostic message to an unknown target address is NACKed with "
    "0x02 (invalid source address), not 0x03 (unknown target address)",
    "routing_activation_ignored": "routing activation requests get no response",
    "ack_missing": "diagnostic messages are routed without a positive ACK",
    "announcement_count_wrong": "two vehicle announcements after power-on, not three",
}
"""Fault primitives of an ECU's DoIP entity (``doip = [...]``), honoured by
:class:`harness.sim.doip.DoipEntity`."""

J1939_FAULTS: dict[str, str] = {
    "claims_taken_address": "claims the address its [j1939] taken_address names (another "
    "node's) instead of its own",
    "tp_timing_wrong": "TP.BAM data packets go out 5 ms apart (J1939-21: 50 to 200 ms)",
    "dm1_lamp_wrong": "DM1 reports every lamp off while it carries active DTCs",
    "nack_missing": "a request to its own address for a PGN it does not support goes "
    "unanswered (J1939-21: a NACK)",
    "clear_ignored": "DM3 and DM11 are acknowledged but clear nothing",
}
"""J1939 fault primitives (``j1939 = [...]``), honoured by :mod:`harness.sim.j1939`."""


def _num(value: Any) -> float:
    return float(getattr(value, "value", value))


@dataclass(frozen=True)
class Condition:
    """``message.signal <op> value``."""

    message: str
    signal: str
    op: str
    value: Any

    def test(self, actual: Any) -> bool:
        return OPERATORS[self.op](self.value)(actual)

    def __str__(self) -> str:
        return f"{self.message}.{self.signal} {self.op} {self.value!r}"


@dataclass(frozen=True)
class Rule:
    """When ``trigger`` holds for a received frame (and every guard holds), set ``values``
    on ``message`` after ``delay`` seconds."""

    id: str
    trigger: Condition
    message: str
    values: Mapping[str, Any]
    delay: float = 0.0
    guards: tuple[Condition, ...] = ()
    edge: bool = False
    """Fire only when the trigger becomes true, not on every matching frame."""
    description: str = ""


@dataclass(frozen=True)
class SeededFault:
    """A named bug an ECU can be switched into, and what it breaks."""

    name: str
    description: str
    disable_rules: tuple[str, ...] = ()
    skip_guards: tuple[str, ...] = ()
    delay_rules: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    message_faults: tuple[tuple[str, Fault, float], ...] = ()
    """(message, residual fault, seconds after power-on or switch-on)."""
    diagnostic: tuple[str, ...] = ()
    """Diagnostic fault primitives (:data:`DIAGNOSTIC_FAULTS`) for the ECU's UDS server."""
    modem: tuple[str, ...] = ()
    """Modem-report fault primitives (:data:`MODEM_FAULTS`)."""
    routing: tuple[Mapping[str, Any], ...] = ()
    """Gateway routing faults, as written (validated by :mod:`harness.sim.gateway`)."""
    doip: tuple[str, ...] = ()
    """DoIP entity fault primitives (:data:`DOIP_FAULTS`)."""
    j1939: tuple[str, ...] = ()
    """J1939 fault primitives (:data:`J1939_FAULTS`)."""


@dataclass(frozen=True)
class EcuDefinition:
    """Everything an ECU file says, validated against its database."""

    path: Path
    name: str
    node: str
    db: SignalDatabase
    description: str
    messages: Mapping[str, MessageSettings]
    rules: tuple[Rule, ...]
    faults: Mapping[str, SeededFault]
    services: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: MappingProxyType({}))
    """The tables of the services the file describes (:data:`SERVICES`), as written: the
    service validates its own table when it is attached."""

    @property
    def diagnostics(self) -> Mapping[str, Any]:
        """The ``[diagnostics]`` table (the UDS server's), empty without one."""
        return self.services.get("diagnostics", MappingProxyType({}))

    @property
    def gateway(self) -> Mapping[str, Any]:
        """The ``[gateway]`` table (:mod:`harness.sim.gateway`'s), empty without one."""
        return self.services.get("gateway", MappingProxyType({}))

    doip: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    """The ``[doip]`` table, as written (:mod:`harness.sim.doip` validates it)."""

    @property
    def j1939(self) -> Mapping[str, Any]:
        """The ``[j1939]`` table (:mod:`harness.sim.j1939`'s), empty without one."""
        return self.services.get("j1939", MappingProxyType({}))


class Service(Protocol):
    """Something that runs while a simulated ECU is powered (a UDS server, a console)."""

    def start(self) -> None: ...
    def stop(self) -> None: ...


class AttachService(Protocol):
    """Gives an ECU the service its file's table of that name describes; ``channels``
    are the ECU's channels on every bench channel it joins."""

    def __call__(self, ecu: SimulatedEcu, channels: Mapping[str, Channel]) -> object: ...


SERVICES: Registry[AttachService] = Registry(
    "simulated ECU service",
    "harness.ecu_services",
    {
        "diagnostics": "harness.sim.uds.server:attach_server",
        "gateway": "harness.sim.gateway:attach_gateway",
        "j1939": "harness.sim.j1939:attach_j1939",
    },
)
"""ECU-file tables that give a simulated ECU a service, by table name: ``[diagnostics]``
a UDS server, ``[gateway]`` a routing gateway. A new behaviour of simulated ECUs is a
service module with an attach function and a row here (or an entry point)."""


def attach_services(ecu: SimulatedEcu, channels: Mapping[str, Channel]) -> None:
    """Every service the ECU's file describes (each imported only when a file has it)."""
    for name in ecu.definition.services:
        SERVICES.get(name)(ecu, channels)


def load_ecu(path: str | Path) -> EcuDefinition:
    """Read and validate an ECU file; mistakes are ConfigErrors naming file and key."""
    path = Path(path)
    doc = Table(read_toml(path, "ECU file"), str(path), "")
    head = doc.table("ecu")
    dbc_text = head.required_str("dbc")
    dbc = (path.parent / dbc_text).resolve()
    if not dbc.is_file():
        raise head.error("dbc", f"database file not found: {dbc}")
    db = SignalDatabase.load(dbc)
    node = head.required_str("node")
    if node not in db.nodes:
        raise head.error("node", f"{db.name} has no node {node!r}{suggest(node, db.nodes)}")
    name = head.optional_str("name") or node
    description = head.optional_str("description", "") or ""
    head.finish()

    own = {m.name for m in db.messages if node in m.senders}
    messages_table = doc.table("messages")
    messages = {
        message: _message_settings(messages_table.table(message), message, db, own)
        for message in list(messages_table.data)
    }
    messages_table.finish()
    rules = tuple(_rule(table, db, own) for table in doc.tables("rules"))
    ids = [rule.id for rule in rules]
    duplicates = {i for i in ids if ids.count(i) > 1}
    if duplicates:
        raise doc.error("rules", f"rule ids must be unique; repeated: {sorted(duplicates)}")
    faults_table = doc.table("faults")
    faults = {
        fault: _seeded_fault(faults_table.table(fault), fault, set(ids), own)
        for fault in list(faults_table.data)
    }
    faults_table.finish()
    services = {name: doc.free_form(name) for name in SERVICES.names() if name in doc.data}
    doip = doc.free_form("doip")
    doc.finish()
    definition = EcuDefinition(
        path,
        name,
        node,
        db,
        description,
        MappingProxyType(messages),
        rules,
        MappingProxyType(faults),
        MappingProxyType(services),
        doip=doip,
    )
    if doip:
        from harness.sim.doip import parse_entity  # noqa: PLC0415 - it imports this module

        parse_entity(doip, path)  # validated whole on loading
    if definition.gateway or any(fault.routing for fault in faults.values()):
        from harness.sim.gateway import gateway_config  # noqa: PLC0415 - it imports this module

        gateway_config(definition)  # a gateway file is validated whole on loading
    if definition.j1939 or any(fault.j1939 for fault in faults.values()):
        from harness.sim.j1939 import j1939_config  # noqa: PLC0415 - it imports this module

        j1939_config(definition)
    return definition


def _message_settings(
    table: Table, name: str, db: SignalDatabase, own: set[str]
) -> MessageSettings:
    if name not in own:
        raise table.error("", f"the node does not send {name!r}{suggest(name, sorted(own))}")
    period_ms = table.number("period_ms", 0.0)
    protection = Protection(
        counter=table.optional_str("counter"),
        checksum=table.optional_str("checksum"),
        algorithm=table.optional_str("algorithm"),
        data_id=table.optional_int("data_id", minimum=0) or 0,
        offset=table.optional_int("offset", minimum=0) or 0,
    )
    explicit = any(getattr(protection, f) for f in ("counter", "checksum", "algorithm"))
    initial = dict(table.free_form("initial"))
    _check_values(table, "initial", db, name, initial)
    settings = MessageSettings(
        period=period_ms / 1000 or None,
        protection=protection if explicit else None,
        values=MappingProxyType(initial),
        enabled=table.boolean("enabled", True),
        on_change=table.boolean("on_change", False),
    )
    table.finish()
    return settings


def _rule(table: Table, db: SignalDatabase, own: set[str]) -> Rule:
    rule_id = table.required_str("id")
    trigger = _condition(table.table("when"), db)
    guards = tuple(_condition(t, db) for t in table.tables("guards"))
    action = table.table("set")
    message = action.required_str("message")
    if message not in own:
        raise action.error(
            "message", f"the node does not send {message!r}{suggest(message, sorted(own))}"
        )
    values = {k: v for k, v in action.data.items() if k != "message"}
    action.accept(*values)
    if not values:
        raise action.error("", "set at least one signal besides message")
    _check_values(action, "", db, message, values)
    action.finish()
    rule = Rule(
        id=rule_id,
        trigger=trigger,
        message=message,
        values=MappingProxyType(values),
        delay=table.number("after_ms", 0.0) / 1000,
        guards=guards,
        edge=table.boolean("edge", False),
        description=table.optional_str("description", "") or "",
    )
    table.finish()
    return rule


def _condition(table: Table, db: SignalDatabase) -> Condition:
    message = table.required_str("message")
    signal = table.required_str("signal")
    ops = [op for op in OPERATORS if op in table.data]
    if len(ops) != 1:
        raise table.error("", f"give exactly one of {', '.join(OPERATORS)}")
    op = ops[0]
    value = table.data[op]
    table.accept(op)
    wanted = value if op in ("equals", "not_equals") else None
    try:
        Matcher(db, message, {signal: wanted} if isinstance(wanted, str) else {signal: 0})
    except UnknownNameError as exc:
        raise table.error("", str(exc)) from None
    if op in ("above", "below", "at_least", "at_most") and not isinstance(value, int | float):
        raise table.error(op, f"expected a number, got {value!r}")
    if op == "one_of" and not isinstance(value, list):
        raise table.error(op, f"expected a list, got {value!r}")
    table.finish()
    return Condition(message, signal, op, value)


def _seeded_fault(table: Table, name: str, rule_ids: set[str], own: set[str]) -> SeededFault:
    description = table.required_str("description")
    disable = table.str_list("disable_rules")
    skip = table.str_list("skip_guards")
    delays_table = table.table("delay_rules_ms")
    delays = {rule: delays_table.number(rule, 0.0) / 1000 for rule in list(delays_table.data)}
    delays_table.finish()
    for key, ids in (("disable_rules", disable), ("skip_guards", skip), ("delay_rules_ms", delays)):
        for rule in ids:
            if rule not in rule_ids:
                raise table.error(key, f"no rule {rule!r}{suggest(rule, sorted(rule_ids))}")
    message_faults = []
    for entry in table.tables("message_faults"):
        message = entry.required_str("message")
        if message not in own:
            raise entry.error("message", f"the node does not send {message!r}")
        kind = entry.required_str("kind")
        if kind not in FAULT_KINDS:
            raise entry.error("kind", f"unknown fault kind{suggest(kind, list(FAULT_KINDS))}")
        fault = Fault(
            kind,
            factor=entry.number("factor", 2.0),
            length=entry.optional_int("length", minimum=0) or 0,
            count=entry.optional_int("count") or 10,
        )
        message_faults.append((message, fault, entry.number("after_s", 0.0)))
        entry.finish()
    diagnostic = table.str_list("diagnostic")
    for primitive in diagnostic:
        if primitive not in DIAGNOSTIC_FAULTS:
            hint = suggest(primitive, list(DIAGNOSTIC_FAULTS))
            raise table.error(
                "diagnostic",
                f"unknown diagnostic fault {primitive!r}{hint}; "
                f"known: {', '.join(DIAGNOSTIC_FAULTS)}",
            )
    modem = table.str_list("modem")
    for primitive in modem:
        if primitive not in MODEM_FAULTS:
            raise table.error(
                "modem",
                f"unknown modem fault {primitive!r}{suggest(primitive, list(MODEM_FAULTS))}; "
                f"known: {', '.join(MODEM_FAULTS)}",
            )
    doip = table.str_list("doip")
    for primitive in doip:
        if primitive not in DOIP_FAULTS:
            raise table.error(
                "doip",
                f"unknown DoIP fault {primitive!r}{suggest(primitive, list(DOIP_FAULTS))}; "
                f"known: {', '.join(DOIP_FAULTS)}",
            )
    routing = tuple(MappingProxyType(dict(entry.data)) for entry in table.tables("routing"))
    j1939 = table.str_list("j1939")
    for primitive in j1939:
        if primitive not in J1939_FAULTS:
            raise table.error(
                "j1939",
                f"unknown J1939 fault {primitive!r}{suggest(primitive, list(J1939_FAULTS))}; "
                f"known: {', '.join(J1939_FAULTS)}",
            )
    table.finish()
    return SeededFault(
        name,
        description,
        tuple(disable),
        tuple(skip),
        MappingProxyType(delays),
        tuple(message_faults),
        tuple(diagnostic),
        tuple(modem),
        routing,
        tuple(doip),
        tuple(j1939),
    )


def _check_values(
    table: Table, key: str, db: SignalDatabase, message: str, values: Mapping[str, Any]
) -> None:
    try:
        db.encode(message, values)
    except HarnessError as exc:
        raise table.error(key, str(exc)) from None


class SimulatedEcu:
    """One ECU brought to life on a channel: residual bus for its messages, rules, faults.

    Powered on by :meth:`power_on` (done by the bench); :meth:`power_off` silences it
    and stops its services, as cutting its supply would.
    """

    def __init__(self, definition: EcuDefinition, channel: Channel) -> None:
        self.definition = definition
        self.channel = channel
        self.services: list[Service] = []
        self.reset_hooks: list[Callable[[], None]] = []
        """Called after :meth:`reset_messages` (services that write messages write again)."""
        self.active_faults: set[str] = set()
        self._closed = False
        self._fault_clock: dict[str, float] = {}
        """When each active fault's ``after_s`` started counting: power-on or switch-on."""
        self.rules_fired: dict[str, int] = {rule.id: 0 for rule in definition.rules}
        self._latest: dict[str, Mapping[str, Any]] = {}
        self._was_true: dict[str, bool] = {}
        self._lock = threading.Lock()
        self._scheduler: Scheduler | None = None
        self.residual: SimulatedNodes | None = None

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def powered(self) -> bool:
        return self.residual is not None

    def attach(self, service: Service) -> None:
        """Run ``service`` whenever the ECU is powered (starting it now if it is)."""
        self.services.append(service)
        if self.powered:
            service.start()

    def power_on(self) -> None:
        if self.powered or self._closed:
            return  # a closed ECU stays off: a reboot timer may fire after the bench closed
        self._scheduler = Scheduler(f"sim {self.name}")
        self._latest.clear()
        self._was_true.clear()
        self.residual = SimulatedNodes(
            self.channel,
            [self.definition.node],
            self.definition.messages,
            source=str(self.definition.path),
        )
        self.channel.subscribe(self._on_frame)
        for service in self.services:
            service.start()
        started = clock.now()
        for fault in sorted(self.active_faults):
            self._fault_clock[fault] = started
            self._apply_message_faults(self.definition.faults[fault])

    def power_off(self) -> None:
        if not self.powered:
            return
        self.channel.unsubscribe(self._on_frame)
        for service in reversed(self.services):
            service.stop()
        if self._scheduler is not None:
            self._scheduler.close()
            self._scheduler = None
        if self.residual is not None:
            self.residual.close()
            self.residual = None

    def close(self) -> None:
        self._closed = True
        self.power_off()

    # -- faults -------------------------------------------------------------------

    def fault_on(self, name: str) -> None:
        """Switch a seeded fault on (it stays on across power cycles until switched off)."""
        fault = self._fault(name)
        self.active_faults.add(name)
        self._fault_clock[name] = clock.now()
        if self.powered:
            self._apply_message_faults(fault)

    def fault_off(self, name: str) -> None:
        fault = self._fault(name)
        self.active_faults.discard(name)
        if self.residual is not None:
            for message, _, _ in fault.message_faults:
                self.residual.clear(message)

    @property
    def diagnostic_faults(self) -> frozenset[str]:
        """The diagnostic fault primitives of the faults switched on now."""
        faults = self.definition.faults
        return frozenset(p for name in self.active_faults for p in faults[name].diagnostic)

    @property
    def doip_faults(self) -> frozenset[str]:
        """The DoIP fault primitives of the faults switched on now."""
        faults = self.definition.faults
        return frozenset(p for name in self.active_faults for p in faults[name].doip)

    def _fault(self, name: str) -> SeededFault:
        faults = self.definition.faults
        if name not in faults:
            hint = suggest(name, list(faults))
            known = ", ".join(faults) or "none"
            raise UnknownNameError(
                f"ECU {self.name!r} has no fault {name!r}{hint}; faults: {known}"
            )
        return faults[name]

    def reset_messages(self) -> None:
        """Every message back to its initial values and sending, as a test's teardown
        wants, with the seeded faults that are switched on still in force (a fault's
        ``after_s`` keeps counting from power-on or switch-on)."""
        if self.residual is None:
            return
        self.residual.reset()
        for name in sorted(self.active_faults):
            self._apply_message_faults(self.definition.faults[name])
        for hook in self.reset_hooks:
            hook()

    def _apply_message_faults(self, fault: SeededFault) -> None:
        elapsed = clock.now() - self._fault_clock.get(fault.name, clock.now())
        for message, residual_fault, after in fault.message_faults:
            inject = self._injector(fault.name, message, residual_fault)
            if after > elapsed and self._scheduler is not None:
                self._scheduler.call_later(after - elapsed, inject)
            else:
                inject()

    def _injector(self, name: str, message: str, fault: Fault) -> Callable[[], None]:
        def inject() -> None:
            if name in self.active_faults and self.residual is not None:
                self.residual.message(message).inject(fault)

        return inject

    # -- rules --------------------------------------------------------------------

    def _on_frame(self, frame: Frame) -> None:
        """Receive-thread hook: remember the values, fire the rules this frame triggers."""
        if frame.name is None or not frame.signals:
            return
        with self._lock:
            self._latest[frame.name] = frame.signals
            due = [rule for rule in self.definition.rules if rule.trigger.message == frame.name]
            for rule in due:
                self._consider(rule, frame)

    def _consider(self, rule: Rule, frame: Frame) -> None:
        faults = [self.definition.faults[name] for name in self.active_faults]
        if any(rule.id in f.disable_rules for f in faults):
            return
        holds = rule.trigger.test(frame.signals.get(rule.trigger.signal))
        was_true = self._was_true.get(rule.id, False)
        self._was_true[rule.id] = holds
        if not holds or (rule.edge and was_true):
            return
        skip_guards = any(rule.id in f.skip_guards for f in faults)
        if not skip_guards and not all(g.test(self._value_of(g)) for g in rule.guards):
            return
        delay = rule.delay + sum(f.delay_rules.get(rule.id, 0.0) for f in faults)
        self.rules_fired[rule.id] += 1
        if delay > 0 and self._scheduler is not None:
            self._scheduler.call_later(delay, lambda: self._act(rule))
        else:
            self._act(rule)

    def _value_of(self, condition: Condition) -> Any:
        """The latest received value, else the database's initial value."""
        latest = self._latest.get(condition.message)
        if latest is not None and condition.signal in latest:
            return latest[condition.signal]
        message = self.definition.db.message(condition.message)
        return default_value(message.get_signal_by_name(condition.signal))

    def _act(self, rule: Rule) -> None:
        residual = self.residual
        if residual is None:
            return
        try:
            residual.set(rule.message, rule.values)
        except HarnessError:
            log.exception("rule %s of %s could not act", rule.id, self.name)


def with_isotp(definition: EcuDefinition, isotp: Mapping[str, Any]) -> EcuDefinition:
    """The definition with its UDS server's ISO-TP frame format set by the bench file
    (``[simulation.ecus.NAME] isotp``, already checked there)."""
    if not isotp or not definition.diagnostics:
        return definition
    services = dict(definition.services)
    services["diagnostics"] = MappingProxyType({**definition.diagnostics, **isotp})
    return replace(definition, services=MappingProxyType(services))


def with_doip(definition: EcuDefinition, doip: Mapping[str, Any]) -> EcuDefinition:
    """The definition with its DoIP entity's keys set by the bench file
    (``[simulation.ecus.NAME] doip``, already checked there)."""
    if not doip or not definition.doip:
        return definition
    return replace(definition, doip=MappingProxyType({**definition.doip, **doip}))


def with_periods(
    definition: EcuDefinition, period_ms: Mapping[str, float], source: str, key: str
) -> EcuDefinition:
    """The definition with cycle times overridden by message name (from a bench file)."""
    if not period_ms:
        return definition
    own = {m.name for m in definition.db.messages if definition.node in m.senders}
    messages = dict(definition.messages)
    for message, period in period_ms.items():
        if message not in own:
            hint = suggest(message, sorted(own))
            raise ConfigError(
                source, f"{key}.period_ms.{message}", f"{definition.name} does not send it{hint}"
            )
        settings = messages.get(message, MessageSettings())
        messages[message] = replace(settings, period=period / 1000)
    return replace(definition, messages=MappingProxyType(messages))
