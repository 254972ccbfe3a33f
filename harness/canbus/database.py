"""Signal databases: load any format cantools reads, encode by name, decode by ID.

A thin layer over :mod:`cantools` that turns its many error types into one
:class:`~harness.exceptions.DatabaseError` naming the file, fills in signals a
caller left out, and decodes received frames fast enough to keep up with a busy
bus (repeated payloads, the norm for cyclic traffic, are decoded once).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cantools
import cantools.database

from harness.exceptions import DatabaseError, EncodeError, UnknownNameError

if TYPE_CHECKING:
    from cantools.database.can import Message, Signal

SignalValues = Mapping[str, Any]
"""Signal name -> physical value, value-table name, or raw number."""

_DECODE_CACHE_LIMIT = 65_536


def suggest(name: str, candidates: list[str]) -> str:
    """A " (did you mean ...?)" hint, or an empty string when nothing is close."""
    close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.6)
    if not close:
        return ""
    return " (did you mean " + " or ".join(repr(c) for c in close) + "?)"


class SignalDatabase:
    """A loaded database with lookups by name and by (ID, extended) pair.

    >>> db = SignalDatabase.load("dbc/demo_vehicle.dbc")  # doctest: +SKIP
    >>> db.encode("BCM_Request", {"DoorUnlock": 1})        # doctest: +SKIP
    """

    def __init__(self, db: cantools.database.can.Database, path: Path | None = None) -> None:
        self.cantools = db
        self.path = path
        self._by_name: dict[str, Message] = {m.name: m for m in db.messages}
        self._by_id: dict[tuple[int, bool], Message] = {
            (m.frame_id, m.is_extended_frame): m for m in db.messages
        }
        self._decode_cache: dict[tuple[int, bytes], dict[str, Any]] = {}

    @classmethod
    def load(cls, path: str | Path, *, strict: bool = True) -> SignalDatabase:
        """Load a DBC, ARXML, KCD or SYM file; any failure is one DatabaseError line."""
        path = Path(path)
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
        return cls(db, path)

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
        """The message a frame ID belongs to, or None when the database does not know it."""
        return self._by_id.get((arbitration_id, is_extended))

    def encode(self, name: str, values: SignalValues | None = None) -> tuple[Message, bytes]:
        """Encode ``name`` from physical values; signals left out take their initial value.

        Raises UnknownNameError for an unknown message or signal, EncodeError for
        a value out of range or not in the value table.
        """
        message = self.message(name)
        values = dict(values or {})
        known = {s.name for s in message.signals}
        for signal_name in values:
            if signal_name not in known:
                hint = suggest(signal_name, sorted(known))
                raise UnknownNameError(
                    f"{self.name}: message {name!r} has no signal {signal_name!r}{hint}"
                )
        complete = {s.name: default_value(s) for s in message.signals} | values
        try:
            required = message.gather_signals(complete)
            data = message.encode(required, strict=True)
        except (cantools.database.EncodeError, ValueError, TypeError, KeyError) as exc:
            raise EncodeError(f"{self.name}: cannot encode {name}: {_one_line(exc)}") from exc
        return message, data

    def decode(self, message: Message, data: bytes) -> dict[str, Any]:
        """Decode ``data`` as ``message`` (value-table names where defined).

        Raises cantools' DecodeError, ValueError or TypeError for a payload that does not
        fit; callers that must not fail keep the frame raw.
        """
        key = (id(message), data)
        cached = self._decode_cache.get(key)
        if cached is not None:
            return cached
        decoded = message.decode(data, decode_choices=True, allow_truncated=False)
        if not isinstance(decoded, dict):  # container messages decode to a list
            raise TypeError(f"{message.name} is a container message")
        if len(self._decode_cache) >= _DECODE_CACHE_LIMIT:
            self._decode_cache.clear()
        self._decode_cache[key] = decoded
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


def _one_line(exc: BaseException) -> str:
    """An exception as one readable line (cantools' parse errors span several)."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
