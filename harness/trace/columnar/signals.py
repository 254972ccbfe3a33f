"""Signals of one message decoded in bulk: the frames as an (N, bytes) matrix, numpy per signal.

Modelled on asammdf's ``bus_logging_utils.extract_signal``: each signal is a
byte window viewed as a 64-bit integer, shifted, masked, sign-extended and
scaled array-wide; multiplexed signals are masks over the frames, computed
from their multiplexer's values. No Python loop runs per frame.

The values are what ``cantools`` gives for
``db.decode_message(id, data, decode_choices=False, scaling=True)``, frame by
frame, and the column types follow what cantools returns:

* ``int64`` where cantools yields ``int`` (integer signals whose scale and
  offset are whole numbers: its ``IdentityConversion`` and
  ``LinearIntegerConversion``); ``uint64`` for an unsigned 64-bit signal
  without scaling, whose raw value may not fit ``int64``;
* ``float64`` otherwise, computed as cantools does (``raw * scale + offset``,
  two roundings, no fused multiply-add), so the floats are bit-identical; IEEE
  float signals are their bits reinterpreted, then scaled the same way;
* ``null`` where cantools leaves a signal out: a multiplexed signal whose
  multiplexer selects another branch (extended multiplexing too), or with
  ``allow_truncated`` a signal beyond the end of a short frame.

A frame cantools refuses is not a row of the table; it is counted as
undecodable instead: a payload shorter than the message (unless
``allow_truncated``, as ``harness decode`` does not), a multiplexer value no
branch is defined for, or any frame of a message whose signals do not fit its
length (a database loaded with ``strict=False``). Longer payloads are cut to
the message length, as cantools does (``allow_excess``).

Value tables become, on request, an extra dictionary-encoded string column
``<signal>_label`` (null where the raw value has no name).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import bitstruct
import numpy as np
import pyarrow as pa
from cantools.database.conversion import (
    BaseConversion,
    IdentityConversion,
    LinearIntegerConversion,
    NamedSignalConversion,
)

if TYPE_CHECKING:
    import numpy.typing as npt
    from cantools.database.can import Message, Signal

LABEL_SUFFIX = "_label"
"""Suffix of the value-table column that ``labels=True`` adds beside a signal."""

_WINDOW = 8
"""Bytes viewed as one integer; the matrix is padded by as many so every window exists."""


@dataclass(frozen=True, slots=True)
class SignalPlan:
    """How one signal is cut out of the frame matrix, worked out once per message."""

    signal: Signal
    little_endian: bool
    first_byte: int
    shift: int
    """LE: bits to shift right; BE: bits from the window's most significant bit."""
    length: int
    needed_bits: int
    """The frame length, in bits, the signal needs (cantools' truncation rule)."""
    is_int: bool
    """Whether cantools returns ints (no float signal, whole scale and offset)."""


@dataclass(slots=True)
class Decoded:
    """Columns of one message for one chunk of frames, before they become Arrow arrays."""

    rows: npt.NDArray[np.intp]
    """Which of the given frames decoded (indices into the matrix handed in)."""
    columns: dict[str, pa.Array] = field(default_factory=dict)
    undecodable: int = 0


class MessageDecoder:
    """A cantools message compiled into numpy steps; decode() takes a whole matrix of frames.

    >>> decoder = MessageDecoder(db.get_message_by_name("ECM_EngineData"))  # doctest: +SKIP
    >>> decoder.decode(matrix, lengths).columns["EngineSpeed"]             # doctest: +SKIP
    """

    def __init__(
        self,
        message: Message,
        *,
        signals: set[str] | None = None,
        labels: bool = False,
        allow_truncated: bool = False,
    ) -> None:
        self.message = message
        self.length = int(message.length)
        self.allow_truncated = allow_truncated
        self.labels = labels
        self.plans: dict[str, SignalPlan] = {s.name: _plan(s) for s in message.signals}
        self.broken = _broken_branches(message)
        """Branches cantools cannot unpack (overlapping signals, signals beyond the length):
        ``None`` for the root, else (multiplexer, value)."""
        self.fits = None not in self.broken and not message.is_container
        by_name = {s.name: s for s in message.signals}
        self.mux_values: dict[str, npt.NDArray[np.int64]] = {}
        """Multiplexer -> the values cantools accepts (empty: it checks none)."""
        for s in message.signals:
            if s.is_multiplexer:
                ids: set[int] = set()
                for child in message.signals:
                    if child.multiplexer_signal == s.name and child.multiplexer_ids is not None:
                        ids.update(child.multiplexer_ids)
                choices = _choices(s)
                if choices:
                    ids.update(int(k) for k in choices)
                self.mux_values[s.name] = np.array(sorted(ids), dtype=np.int64)
        self.by_name = by_name
        wanted = set(by_name) if signals is None else signals & set(by_name)
        self.output = [s.name for s in message.signals if s.name in wanted]
        self.types: dict[str, pa.DataType] = {
            name: _arrow_type(self.plans[name]) for name in by_name
        }

    def schema_fields(self) -> list[pa.Field]:
        """The signal columns this decoder produces, in database order."""
        fields = []
        for name in self.output:
            fields.append(pa.field(name, self.types[name]))
            if self.labels and _choices(self.by_name[name]):
                fields.append(pa.field(name + LABEL_SUFFIX, pa.dictionary(pa.int32(), pa.string())))
        return fields

    def decode(self, matrix: npt.NDArray[np.uint8], lengths: npt.NDArray[Any]) -> Decoded:
        """Decode frames given as a zero-padded (N, W) byte matrix and their payload lengths."""
        count = len(matrix)
        if not self.fits:
            return Decoded(np.zeros(0, dtype=np.intp), undecodable=count)
        padded = _pad(matrix, self.length)
        lengths = np.minimum(lengths.astype(np.int64), self.length)
        context = _Context(padded, lengths, self)
        valid = np.ones(count, dtype=bool)
        if not self.allow_truncated:
            valid &= lengths >= self.length
        for mux, accepted in self.mux_values.items():
            if len(accepted) == 0:
                continue
            present = context.present(mux)
            number, finite = context.mux_number(mux)
            known = np.isin(number, accepted) & finite
            valid &= ~present | known
        for branch in self.broken:
            if branch is not None:
                mux, value = branch
                valid &= ~(context.present(mux) & (context.mux_number(mux)[0] == value))
        rows = np.flatnonzero(valid)
        every = len(rows) == count
        decoded = Decoded(rows, undecodable=count - len(rows))
        for name in self.output:
            values = context.scaled(name)
            present = context.present(name)
            if not every:
                values, present = values[rows], present[rows]
            mask = None if present.all() else ~present
            decoded.columns[name] = pa.array(values, type=self.types[name], mask=mask)
            choices = _choices(self.by_name[name]) if self.labels else None
            if choices:
                raw = context.raw(name)
                if not every:
                    raw = raw[rows]
                decoded.columns[name + LABEL_SUFFIX] = _labels(raw, present, choices)
        return decoded


class _Context:
    """Raw values, scaled values and presence masks of one chunk, each computed once."""

    def __init__(
        self,
        padded: npt.NDArray[np.uint8],
        lengths: npt.NDArray[np.int64],
        decoder: MessageDecoder,
    ) -> None:
        self.padded = padded
        self.lengths = lengths
        self.decoder = decoder
        self._windows: dict[tuple[int, bool], npt.NDArray[np.uint64]] = {}
        self._raw: dict[str, npt.NDArray[Any]] = {}
        self._scaled: dict[str, npt.NDArray[Any]] = {}
        self._present: dict[str, npt.NDArray[np.bool_]] = {}

    def window(self, first: int, little_endian: bool) -> npt.NDArray[np.uint64]:
        """Bytes ``first..first+7`` of every frame as one unsigned integer (native order)."""
        key = (first, little_endian)
        cached = self._windows.get(key)
        if cached is None:
            block = np.ascontiguousarray(self.padded[:, first : first + _WINDOW])
            if little_endian:
                cached = block.view("<u8").ravel().astype(np.uint64, copy=False)
            else:
                cached = block.view(">u8").ravel().astype(np.uint64)
            self._windows[key] = cached
        return cached

    def raw(self, name: str) -> npt.NDArray[Any]:
        """The raw value as cantools unpacks it: int64/uint64, or float64 for IEEE floats."""
        cached = self._raw.get(name)
        if cached is not None:
            return cached
        plan = self.decoder.plans[name]
        bits = self._bits(plan)
        signal = plan.signal
        length = plan.length
        value: npt.NDArray[Any]
        if signal.is_float:
            if length == 64:
                value = bits.view(np.float64)
            elif length == 32:
                with np.errstate(invalid="ignore"):  # signalling NaNs become quiet, as in C
                    value = bits.astype(np.uint32).view(np.float32).astype(np.float64)
            else:
                with np.errstate(invalid="ignore"):
                    value = bits.astype(np.uint16).view(np.float16).astype(np.float64)
        elif signal.is_signed:
            if length == 64:
                value = bits.view(np.int64)
            else:
                sign = np.int64(1 << (length - 1))
                value = (bits.astype(np.int64) ^ sign) - sign
        elif length == 64:
            value = bits
        else:
            value = bits.astype(np.int64)
        self._raw[name] = value
        return value

    def _bits(self, plan: SignalPlan) -> npt.NDArray[np.uint64]:
        length = plan.length
        mask = np.uint64((1 << length) - 1)
        window = self.window(plan.first_byte, plan.little_endian)
        if plan.little_endian:
            shift = plan.shift
            bits = window >> np.uint64(shift)
            if shift + length > 64:  # a 57..64-bit signal not aligned to a byte: one byte more
                nxt = self.padded[:, plan.first_byte + _WINDOW].astype(np.uint64)
                bits |= nxt << np.uint64(64 - shift)
        else:
            top = plan.shift  # bits above the signal in the window
            if top + length <= 64:
                bits = window >> np.uint64(64 - top - length)
            else:
                extra = top + length - 64
                nxt = self.padded[:, plan.first_byte + _WINDOW].astype(np.uint64)
                bits = (window << np.uint64(extra)) | (nxt >> np.uint64(8 - extra))
        if length < 64:
            bits = bits & mask
        return bits

    def scaled(self, name: str) -> npt.NDArray[Any]:
        """The physical value, computed as cantools' conversion computes it."""
        cached = self._scaled.get(name)
        if cached is not None:
            return cached
        raw = self.raw(name)
        conversion = _numeric_conversion(self.decoder.plans[name].signal)
        value: npt.NDArray[Any]
        if isinstance(conversion, IdentityConversion):
            value = raw
        elif isinstance(conversion, LinearIntegerConversion):
            value = raw.astype(np.int64) * np.int64(conversion.scale) + np.int64(conversion.offset)
        else:
            scale, offset = conversion.scale, conversion.offset
            if isinstance(scale, int) and raw.dtype != np.float64:
                product = (raw.astype(np.int64) * np.int64(scale)).astype(np.float64)
            else:
                product = raw.astype(np.float64) * np.float64(scale)
            value = product + np.float64(offset)
        self._scaled[name] = value
        return value

    def mux_number(self, name: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
        """``int(scaled value)``, cantools' multiplexer number, and where that is defined."""
        value = self.scaled(name)
        if value.dtype == np.float64:
            finite = np.isfinite(value) & (np.abs(value) < 2.0**63)
            return np.trunc(np.where(finite, value, 0.0)).astype(np.int64), finite
        return value.astype(np.int64), np.ones(len(value), dtype=bool)

    def present(self, name: str) -> npt.NDArray[np.bool_]:
        """Frames in which cantools returns this signal."""
        cached = self._present.get(name)
        if cached is not None:
            return cached
        decoder = self.decoder
        plan = decoder.plans[name]
        signal = plan.signal
        if decoder.allow_truncated:
            present = self.lengths * 8 >= plan.needed_bits
        else:
            present = np.ones(len(self.lengths), dtype=bool)
        parent = signal.multiplexer_signal
        if parent is not None:
            parent_signal = decoder.by_name.get(parent)
            ids = signal.multiplexer_ids
            if parent_signal is None or not parent_signal.is_multiplexer or ids is None:
                present = np.zeros(len(self.lengths), dtype=bool)
            else:
                number, finite = self.mux_number(parent)
                selected = np.isin(number, np.array(sorted(ids), dtype=np.int64)) & finite
                present = present & self.present(parent) & selected
        self._present[name] = present
        return present


def _plan(signal: Signal) -> SignalPlan:
    start, length = int(signal.start), int(signal.length)
    little = signal.byte_order == "little_endian"
    if little:
        first, shift = divmod(start, 8)
        needed = start + length
    else:
        msb = 8 * (start // 8) + 7 - start % 8  # network bit number: 0 is byte 0's top bit
        first, shift = divmod(msb, 8)
        needed = msb + length
    conversion = _numeric_conversion(signal)
    is_int = not signal.is_float and isinstance(
        conversion, IdentityConversion | LinearIntegerConversion
    )
    return SignalPlan(signal, little, first, shift, length, needed, is_int)


def _broken_branches(message: Message) -> set[tuple[str, int] | None]:
    """Codecs of the message whose signals cantools cannot unpack from any payload.

    cantools builds one bitstruct format per multiplexer branch; where signals
    overlap or stick out of the message it fails on every payload ("unpacking
    failed"). Probing each branch once with zeros finds them.
    """
    broken: set[tuple[str, int] | None] = set()
    zeros = bytes(int(message.length))
    codecs: Any = message._codecs  # cantools keeps the per-branch formats only here
    if codecs is None:
        return {None}

    def walk(node: Any, branch: tuple[str, int] | None) -> None:
        formats = node["formats"]
        try:
            formats.big_endian.unpack(zeros)
            formats.little_endian.unpack(zeros[::-1])
        except (bitstruct.Error, ValueError):
            broken.add(branch)
        for mux, children in node["multiplexers"].items():
            for value, child in children.items():
                walk(child, (mux, int(value)))

    walk(codecs, None)
    return broken


def _numeric_conversion(signal: Signal) -> BaseConversion:
    """The scale/offset part of a signal's conversion (value tables wrap one)."""
    conversion: BaseConversion = signal.conversion
    if isinstance(conversion, NamedSignalConversion):
        inner: BaseConversion = conversion._conversion  # private in cantools
        return inner
    return conversion


def _choices(signal: Signal) -> dict[int, Any] | None:
    choices: dict[int, Any] | None = signal.conversion.choices
    return choices or None


def _arrow_type(plan: SignalPlan) -> pa.DataType:
    if not plan.is_int:
        return pa.float64()
    conversion = _numeric_conversion(plan.signal)
    unsigned64 = plan.length == 64 and not plan.signal.is_signed
    if unsigned64 and isinstance(conversion, IdentityConversion):
        return pa.uint64()
    return pa.int64()


def _pad(matrix: npt.NDArray[np.uint8], length: int) -> npt.NDArray[np.uint8]:
    """The first ``length`` bytes of each frame, then zeros up to ``length + 8`` (+1)."""
    width = length + _WINDOW + 1
    padded = np.zeros((len(matrix), width), dtype=np.uint8)
    keep = min(length, matrix.shape[1])
    padded[:, :keep] = matrix[:, :keep]
    return padded


def _labels(
    raw: npt.NDArray[Any], present: npt.NDArray[np.bool_], choices: dict[int, Any]
) -> pa.DictionaryArray:
    """Value-table names as a dictionary array; null where the value has no name."""
    keys = np.array(sorted(int(k) for k in choices), dtype=np.int64)
    names = pa.array([str(choices[int(k)]) for k in keys], type=pa.string())
    if raw.dtype == np.float64:
        finite = np.isfinite(raw) & (np.abs(raw) < 2.0**63)
        number = np.trunc(np.where(finite, raw, 0.0)).astype(np.int64)
    else:
        finite = np.ones(len(raw), dtype=bool)
        number = raw.astype(np.int64)
    at = np.searchsorted(keys, number).clip(0, max(len(keys) - 1, 0))
    named = finite & present & (keys[at] == number) if len(keys) else np.zeros(len(raw), bool)
    indices = pa.array(at.astype(np.int32), type=pa.int32(), mask=~named)
    return pa.DictionaryArray.from_arrays(indices, names)
