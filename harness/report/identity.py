"""Who the device under test is: read from everything the bench can reach, at the start
and the end of a run, so a run whose DUT was reflashed or swapped midway is flagged.

An identity provider is a name and a function ``(bench) -> {key: value}`` that returns
``{}`` when the bench lacks what it reads (no ``[diagnostics]``, no modem). Providers
run in order; each reading keeps which provider said what. Keys that mean the same
thing whatever their source use one spelling (:data:`KEYS`), so the results store can
find every run of a part number. Add a provider with :func:`register` (a conftest or a
plugin); the built-in ones read the bench file's ``[dut]``, the UDS identification DIDs
and the modems' ``ATI`` / ``+CGSN`` / ``+CIMI``.

>>> reading = read_identity(bench)                       # doctest: +SKIP
>>> reading.values["part_number"], reading.sources["part_number"]   # doctest: +SKIP
('BCM-DEMO-0001', 'uds')
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness import clock
from harness.exceptions import DiagnosticTimeoutError, HarnessError

if TYPE_CHECKING:
    from harness.bench import Bench

log = logging.getLogger(__name__)

IdentityReader = Callable[["Bench"], Mapping[str, str]]
"""Reads part of a DUT's identity from a bench; ``{}`` when the bench lacks the resource."""

KEYS = {
    "name": "DUT name",
    "vin": "VIN",
    "part_number": "part number",
    "serial_number": "serial number",
    "software_version": "software version",
    "supplier_software_version": "supplier software version",
    "hardware_version": "hardware version",
    "supplier_hardware_version": "supplier hardware version",
    "supplier": "supplier",
    "system_name": "system name",
}
"""Canonical identity keys and how reports label them; other keys are shown as they are."""

UDS_DIDS = {
    0xF190: "vin",
    0xF187: "part_number",
    0xF18C: "serial_number",
    0xF189: "software_version",
    0xF195: "supplier_software_version",
    0xF191: "hardware_version",
    0xF193: "supplier_hardware_version",
    0xF18A: "supplier",
    0xF197: "system_name",
}
"""ISO 14229-1 identification DIDs (annex C.1) and the canonical key each one fills."""


@dataclass(frozen=True)
class IdentityProvider:
    """A named identity reader."""

    name: str
    read: IdentityReader


@dataclass(frozen=True)
class Value:
    """One identity value and the provider that read it."""

    source: str
    key: str
    value: str


@dataclass
class IdentityReading:
    """What the providers said at one moment, and which of them failed."""

    read_at: float = field(default_factory=clock.wall)
    entries: list[Value] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    """Provider name -> why it could not read (the bench had the resource, but it failed)."""

    @property
    def values(self) -> dict[str, str]:
        """One value per key; a later provider (the DUT itself) beats an earlier one
        (the bench file)."""
        return {entry.key: entry.value for entry in self.entries}

    @property
    def sources(self) -> dict[str, str]:
        return {entry.key: entry.source for entry in self.entries}

    def get(self, key: str) -> str | None:
        return self.values.get(key)


@dataclass(frozen=True)
class Change:
    """A value that differs between two readings (same provider, same key)."""

    source: str
    key: str
    before: str
    after: str

    def __str__(self) -> str:
        return f"{label(self.key)} ({self.source}): {self.before!r} -> {self.after!r}"


def label(key: str) -> str:
    """How a report names an identity key."""
    return KEYS.get(key, key)


def changes(start: Iterable[Value], end: Iterable[Value]) -> list[Change]:
    """Values read at both moments by the same provider that differ.

    A value read only once (the provider failed the other time) is no change:
    the reading's ``errors`` say so instead.
    """
    before = {(v.source, v.key): v.value for v in start}
    found = []
    for value in end:
        old = before.get((value.source, value.key))
        if old is not None and old != value.value:
            found.append(Change(value.source, value.key, old, value.value))
    return found


def text(value: Any) -> str:
    """An identity value as text: bytes decoded as ASCII (padding stripped), else ``str``."""
    if isinstance(value, bytes | bytearray):
        decoded = bytes(value).rstrip(b"\x00\xff ").decode("ascii", "replace")
        return decoded if decoded.isprintable() else bytes(value).hex(" ")
    return str(value).strip()


# -- the built-in providers -----------------------------------------------------------


def bench_file_identity(bench: Bench) -> dict[str, str]:
    """What the bench file's ``[dut]`` declares: name, part number, ``[dut.identity]``."""
    dut = bench.config.dut
    values = {"name": dut.name}
    if dut.part_number:
        values["part_number"] = dut.part_number
    values.update({str(k): text(v) for k, v in dut.identity.items()})
    return values


def uds_identity(bench: Bench) -> dict[str, str]:
    """The identification DIDs, read over UDS where the bench has ``[diagnostics]``.

    With a DUT profile, the DIDs it marks ``identity = true``; without one, the
    standard ones of :data:`UDS_DIDS` that the DUT supports (a negative response
    leaves a DID out). No answer at all raises, so the reading records why.
    """
    if not bench.config.diagnostics:
        return {}
    from harness.bench.diagnostics import bench_diag_config, open_uds  # noqa: PLC0415 - only if used
    from harness.exceptions import NegativeResponseError  # noqa: PLC0415

    config = bench_diag_config(bench)
    profile = config.profile
    wanted: list[tuple[int, str]]
    if profile is not None and profile.identity:
        wanted = [(did.id, UDS_DIDS.get(did.id, did.name)) for did in profile.identity]
    else:
        wanted = list(UDS_DIDS.items())
    values: dict[str, str] = {}
    with open_uds(bench, config) as uds:
        for did, key in wanted:
            try:
                values[key] = text(uds.read_did(did))
            except NegativeResponseError:
                continue  # the DUT does not support this one
            except DiagnosticTimeoutError:
                if values:
                    continue
                raise  # nothing answers: say so once instead of timing out on every DID
    return values


def read_modem_identity(modem: Any) -> dict[str, str]:
    """``ATI``, manufacturer, model, revision, ``+CGSN`` (IMEI) and ``+CIMI`` (IMSI) of one
    open :class:`~harness.devices.modem.Modem`, keyed ``NAME.KEY`` (``modem.imei``)."""
    prefix = f"{modem.name}."
    values: dict[str, str] = {}
    ati = modem.command("ATI")
    lines = [line.strip() for line in getattr(ati, "lines", ()) if line.strip()]
    if lines:
        values[prefix + "ati"] = " / ".join(lines)
    ident = modem.identity()
    for key in ("manufacturer", "model", "revision", "imei", "imsi"):
        value = getattr(ident, key, None)
        if value:
            values[prefix + key] = text(value)
    return values


def bench_modems(bench: Bench) -> Iterator[Any]:
    """The open modem drivers of a bench: the :class:`~harness.devices.modem.Modem`
    instances among ``bench.devices`` (a mapping of device name to driver)."""
    devices = getattr(bench, "devices", None)
    if not isinstance(devices, Mapping):
        return
    try:
        from harness.devices.modem import Modem  # noqa: PLC0415 - serial layer only if used
    except ImportError:
        return
    for name in list(devices):
        driver = devices[name]
        if isinstance(driver, Modem):
            yield driver


def modem_identity(bench: Bench) -> dict[str, str]:
    """Every modem's identity (see :func:`read_modem_identity`); ``{}`` without modems."""
    values: dict[str, str] = {}
    for modem in bench_modems(bench):
        values.update(read_modem_identity(modem))
    return values


PROVIDERS: list[IdentityProvider] = [
    IdentityProvider("bench file", bench_file_identity),
    IdentityProvider("uds", uds_identity),
    IdentityProvider("modem", modem_identity),
]
"""The providers a run reads, in order (later ones win for the same key)."""


def register(name: str, read: IdentityReader) -> IdentityProvider:
    """Add a provider (replacing one of the same name) and return it.

    >>> register("label printer", lambda bench: {"serial_number": "SN-42"})  # doctest: +SKIP
    """
    provider = IdentityProvider(name, read)
    unregister(name)
    PROVIDERS.append(provider)
    return provider


def unregister(name: str) -> None:
    PROVIDERS[:] = [p for p in PROVIDERS if p.name != name]


def read_identity(
    bench: Bench, providers: Iterable[IdentityProvider] | None = None
) -> IdentityReading:
    """Ask every provider; one that fails is noted in ``errors`` and the rest still run.

    Never raises for a provider's failure (a run must not die because the DUT does
    not answer a DID), except for KeyboardInterrupt and the like.
    """
    reading = IdentityReading()
    for provider in PROVIDERS if providers is None else providers:
        try:
            found = provider.read(bench)
        except HarnessError as exc:
            reading.errors[provider.name] = str(exc)
            continue
        except Exception as exc:
            log.warning("identity provider %r failed", provider.name, exc_info=True)
            reading.errors[provider.name] = f"{type(exc).__name__}: {exc}"
            continue
        for key, value in found.items():
            reading.entries.append(Value(provider.name, str(key), text(value)))
    return reading
