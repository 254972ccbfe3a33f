"""Signal databases: load any format cantools reads, encode by name, decode by ID.

A thin layer over :mod:`cantools` that turns its many error types into one
:class:`~harness.exceptions.DatabaseError` naming the file, fills in signals a
caller left out, and decodes received frames fast enough to keep up with a busy
bus (repeated payloads, the norm for cyclic traffic, are decoded once).

A J1939 database (``ProtocolType = "J1939"`` on the database, ``VFrameFormat``
J1939PG on messages, or ``j1939=True`` from the bench) matches extended frames by
PGN when their exact ID is not in it, so a message decodes from any source address
and priority.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cantools
import cantools.database

from harness.canbus.frame import NO_SIGNALS
from harness.canbus.protection import Protection, declared, validate
from harness.canbus.saej1939.addressing import pgn_of
from harness.datafile import suggest
from harness.exceptions import ConfigError, DatabaseError, EncodeError, UnknownNameError

if TYPE_CHECKING:
    from cantools.database.can import Message, Signal

SignalValues = Mapping[str, Any]
"""Signal name -> physical value, value-table name, or raw number."""
Decoded = tuple[str | None, Mapping[str, Any], str | None]
"""A received payload as the database reads it: message name, signals, why it did not decode."""

_DECODE_CACHE_LIMIT = 65_536
_EXTENDED = 1 << 29
"""Set above a 29-bit identifier in cache keys, so extended and standard IDs stay apart."""
NOT_DECODED: tuple[None, Mapping[str, Any], None] = (None, NO_SIGNALS, None)
"""What :meth:`SignalDatabase.decode_payload` says about an ID the database does not know."""


class SignalDatabase:
    """A loaded database with lookups by name and by (ID, extended) pair.

    >>> db = SignalDatabase.load("dbc/demo_vehicle.dbc")  # doctest: +SKIP
    >>> db.encode("BCM_Request", {"DoorUnlock": 1})        # doctest: +SKIP
    """

    def __init__(
        self, db: cantools.database.can.Database, path: Path | None = None, *, j1939: bool = False
    ) -> None:
        self.cantools = db
        self.path = path
        self._by_name: dict[str, Message] = {m.name: m for m in db.messages}
        self._by_id: dict[tuple[int, bool], Message] = {
            (m.frame_id, m.is_extended_frame): m for m in db.messages
        }
        whole = j1939 or _declares_j1939(db)
        self._by_pgn: dict[int, Message] = {}
        """J1939 messages by PGN: the fallback for extended IDs not in ``_by_id``."""
        for m in db.messages:
            if m.is_extended_frame and (whole or m.protocol == "j1939"):
                self._by_pgn.setdefault(pgn_of(m.frame_id), m)
        self._j1939_names = frozenset(m.name for m in self._by_pgn.values())
        self.is_j1939 = whole or bool(self._by_pgn)
        """Whether extended frames on a channel with this database are read as J1939."""
        self._decode_cache: dict[tuple[int, bytes], dict[str, Any]] = {}
        # arbitration ID (| _EXTENDED) -> message and its payloads: decoded signals or why not
        self._payloads: dict[int, tuple[Message, dict[bytes, Mapping[str, Any] | str]]] = {}
        self._payloads_cached = 0
        self._layouts_checked: set[tuple[str, frozenset[str]]] = set()
        self._protections: dict[str, Protection] = {}

    @classmethod
    def load(cls, path: str | Path, *, strict: bool = True, j1939: bool = False) -> SignalDatabase:
        """Load a DBC, ARXML, KCD or SYM file; any failure is one DatabaseError line.

        ``j1939`` reads every extended message as J1939 even where the file does not say so.
        """
        path = Path(path)
        if path.is_dir():
            raise DatabaseError(f"{path}: is a directory, not a database file")
        try:
            db = cantools.database.load_file(str(path), strict=strict)
        except FileNotFoundError:
            raise DatabaseError(f"{path}: no such file") from None
        except UnicodeDecodeError as exc:
            raise DatabaseError(f"{path}: not a text database ({exc.reason})") from exc
        except Exception as exc:  # cantools raises many unrelated types for bad input
            raise DatabaseError(f"{path}: cannot load: {_one_line(exc)}") from exc
        if not isinstance(db, cantools.database.can.Database):
            raise DatabaseError(f"{path}: not a CAN database ({type(db).__name__})")
        return cls(db, path, j1939=j1939)

    def declare(
        self,
        protection: Mapping[str, Protection],
        cycle_ms: Mapping[str, int],
        source: str,
        key: str,
    ) -> None:
        """Add what a bench declares and the database does not: protections and cycle
        times by message name (``key`` is where they were written, for errors)."""
        for kind, names in (("protection", protection), ("cycle_ms", cycle_ms)):
            for name in names:
                if name not in self._by_name:
                    hint = suggest(name, list(self._by_name))
                    raise ConfigError(source, f"{key}.{kind}.{name}", f"no such message{hint}")
        for name, declared_protection in protection.items():
            validate(declared_protection, self._by_name[name], source, f"{key}.protection.{name}")
            self._protections[name] = declared_protection
        for name, milliseconds in cycle_ms.items():
            self._by_name[name].cycle_time = milliseconds

    def protection(self, name: str) -> Protection:
        """The counter and checksum of message ``name``: as a bench declared them, else as
        the database's attributes do; ``Protection()`` (not verified) when neither does."""
        return self._protections.get(name) or declared(self.message(name))

    @property
    def name(self) -> str:
        return self.path.name if self.path else "<database>"

    @property
    def messages(self) -> list[Message]:
        return list(self.cantools.messages)

    @property
    def nodes(self) -> list[str]:
        return [node.name for node in self.cantools.nodes]

    def message(self, name: str) -> Message:
        """The message called ``name``; UnknownNameError with suggestions otherwise."""
        try:
            return self._by_name[name]
        except KeyError:
            hint = suggest(name, list(self._by_name))
            raise UnknownNameError(f"{self.name}: no message {name!r}{hint}") from None

    def message_for(self, arbitration_id: int, is_extended: bool) -> Message | None:
        """The message a frame ID belongs to, or None when the database does not know it.

        An extended ID not in the database finds its J1939 message by PGN.
        """
        message = self._by_id.get((arbitration_id, is_extended))
        if message is None and is_extended and self._by_pgn:
            return self._by_pgn.get(pgn_of(arbitration_id))
        return message

    def is_j1939_message(self, message: Message) -> bool:
        """Whether ``message`` matches by PGN (from any source address and priority)."""
        return message.name in self._j1939_names

    def message_for_pgn(self, pgn: int) -> Message | None:
        """The J1939 message of ``pgn``, or None."""
        return self._by_pgn.get(pgn)

    def encode(self, name: str, values: SignalValues | None = None) -> tuple[Message, bytes]:
        """Encode ``name`` from physical values; signals left out take their initial value.

        Raises UnknownNameError for an unknown message or signal, EncodeError for
        a value out of range or not in the value table.
        """
        message = self.message(name)
        values = dict(values or {})
        known = {s.name: s for s in message.signals}
        for signal_name, value in values.items():
            signal = known.get(signal_name)
            if signal is None:
                hint = suggest(signal_name, sorted(known))
                raise UnknownNameError(
                    f"{self.name}: message {name!r} has no signal {signal_name!r}{hint}"
                )
            if isinstance(value, str):
                self._check_choice(message, signal, value)
        complete = {s.name: default_value(s) for s in message.signals} | values
        try:
            required = message.gather_signals(complete)
            data = message.encode(required, strict=True)
        except (cantools.database.EncodeError, ValueError, TypeError, KeyError) as exc:
            raise EncodeError(f"{self.name}: cannot encode {name}: {_one_line(exc)}") from exc
        layout = (name, frozenset(required))
        if layout not in self._layouts_checked:
            self._check_layout(message, data)
            self._layouts_checked.add(layout)
        return message, data

    def _check_choice(self, message: Message, signal: Signal, value: str) -> None:
        """A value-table name must be in the table (cantools says only ``KeyError: 'X'``)."""
        names = [str(choice) for choice in (signal.choices or {}).values()]
        if value in names:
            return
        where = f"{self.name}: cannot encode {message.name}: signal {signal.name!r}"
        if not names:
            raise EncodeError(f"{where} has no value table; give a number, not {value!r}")
        hint = suggest(value, names) or f" (one of {', '.join(names)})"
        raise EncodeError(f"{where} has no value {value!r}{hint}")

    def _check_layout(self, message: Message, data: bytes) -> None:
        """Refuse a frame that would not decode back.

        A database loaded with ``strict=False`` may hold signals that overlap or
        do not fit the message; cantools then encodes without complaint but drops
        or garbles bits. Checked once per message (and multiplexer branch).
        """
        try:
            message.decode(data, decode_choices=False, allow_truncated=False)
        except (cantools.database.DecodeError, ValueError, TypeError, KeyError) as exc:
            raise EncodeError(
                f"{self.name}: cannot encode {message.name}: {_layout_problem(message, exc)}"
            ) from exc

    def decode(self, message: Message, data: bytes) -> dict[str, Any]:
        """Decode ``data`` as ``message`` (value-table names where defined).

        Raises cantools' DecodeError, ValueError or TypeError for a payload that does not
        fit; callers that must not fail keep the frame raw.
        """
        key = (id(message), data)
        cached = self._decode_cache.get(key)
        if cached is not None:
            return cached
        decoded = _decode(message, data)
        if len(self._decode_cache) >= _DECODE_CACHE_LIMIT:
            self._decode_cache.clear()
        self._decode_cache[key] = decoded
        return decoded

    def decode_payload(self, arbitration_id: int, is_extended: bool, data: bytes) -> Decoded:
        """``(name, signals, error)`` of a received payload, never raising: the receive
        path's one call per frame.

        Payloads seen before (cyclic traffic repeats itself) cost two dict lookups and
        no new objects the garbage collector would have to track; ``error`` says why
        a payload of a known message does not decode.
        """
        key = arbitration_id | _EXTENDED if is_extended else arbitration_id
        known = self._payloads.get(key)
        if known is None:
            message = self.message_for(arbitration_id, is_extended)
            if message is None:
                return NOT_DECODED
            known = self._payloads[key] = (message, {})
        message, cache = known
        signals = cache.get(data)
        if signals is None:
            if self._payloads_cached >= _DECODE_CACHE_LIMIT:
                for _, other in self._payloads.values():
                    other.clear()
                self._payloads_cached = 0
            try:
                signals = _decode(message, data)
            except (
                cantools.database.DecodeError,
                ValueError,
                TypeError,
                KeyError,
                IndexError,
            ) as exc:
                signals = _one_line(exc)
            cache[data] = signals
            self._payloads_cached += 1
        if isinstance(signals, str):
            return message.name, NO_SIGNALS, signals
        return message.name, signals, None


def _declares_j1939(db: cantools.database.can.Database) -> bool:
    """The DBC's database-wide ``ProtocolType`` attribute says J1939."""
    dbc = db.dbc
    if dbc is None:
        return False
    attribute = dbc.attributes.get("ProtocolType")
    return attribute is not None and str(attribute.value).upper() == "J1939"


def _decode(message: Message, data: bytes) -> dict[str, Any]:
    decoded = message.decode(data, decode_choices=True, allow_truncated=False)
    if not isinstance(decoded, dict):  # container messages decode to a list
        raise TypeError(f"{message.name} is a container message")
    return decoded


def default_value(signal: Signal) -> Any:
    """The value a signal takes when the caller does not give one: its initial value,
    else raw zero, else (if zero is out of range) its minimum."""
    if signal.initial is not None:
        return signal.initial
    value = signal.offset  # raw zero, scaled
    if signal.minimum is not None and value < signal.minimum:
        return signal.minimum
    if signal.maximum is not None and value > signal.maximum:
        return signal.maximum
    return value


def _layout_problem(message: Message, exc: BaseException) -> str:
    """Why a message's frames do not decode, in cantools' strict-check words if it has them."""
    probe = copy.deepcopy(message)
    try:
        probe.refresh(strict=True)
    except cantools.database.errors.Error as strict_exc:  # overlapping or not fitting signals
        return _one_line(strict_exc)
    return f"the encoded frame does not decode back ({_one_line(exc)})"


def _one_line(exc: BaseException) -> str:
    """An exception as one readable line (cantools' parse errors span several)."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
