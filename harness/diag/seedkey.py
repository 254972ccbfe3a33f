"""Seed-key algorithms for SecurityAccess (0x27), as plugins.

A bench file (tester side) and an ECU file (simulated server side) name the
algorithm, either as ``"module:function"`` or as the name of an entry point in
the ``harness.seedkey`` group, so a lab's secret algorithm lives in its own
package and never in this repository:

.. code-block:: toml

    [diagnostics.security]
    seed_key = "harness.diag.seedkey:xor_constant"
    params = { mask = 0x5A3CC3A5 }    # handed to the algorithm; never logged

An algorithm has udsoncan's signature: ``algorithm(level, seed, params) -> key``.
Keys and parameters never reach a log: the client and server log "key (N bytes,
redacted)", and :class:`RedactKeys` strips them from the libraries' debug logs.

>>> xor_constant(1, bytes.fromhex("11223344"), {"mask": 0x5A3CC3A5}).hex()
'4b1ef0e1'
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

from harness.datafile import suggest
from harness.exceptions import ConfigError, PluginError
from harness.plugins import entry_point, entry_point_names, load_object

ENTRY_POINT_GROUP = "harness.seedkey"

SeedKeyAlgorithm = Callable[[int, bytes, Mapping[str, Any]], bytes]


def xor_constant(level: int, seed: bytes, params: Mapping[str, Any]) -> bytes:
    """The example algorithm: each seed byte XOR the big-endian ``mask`` (repeated),
    then XOR the level, so each level has its own keys. Not a secure algorithm."""
    mask_value = int(params.get("mask", 0x5A3CC3A5))
    mask = mask_value.to_bytes(max(1, (mask_value.bit_length() + 7) // 8), "big")
    return bytes(b ^ mask[i % len(mask)] ^ (level - 1) for i, b in enumerate(seed))


class SeedKey:
    """A loaded algorithm with its parameters; its repr shows the name only."""

    def __init__(self, spec: str, algorithm: SeedKeyAlgorithm, params: Mapping[str, Any]) -> None:
        self.spec = spec
        self._algorithm = algorithm
        self._params = dict(params)

    def key(self, level: int, seed: bytes) -> bytes:
        """The key for ``seed`` at ``level`` (the odd requestSeed sub-function)."""
        return bytes(self._algorithm(level, bytes(seed), self._params))

    def udsoncan_algo(self, level: int, seed: bytes, params: Any = None) -> bytes:
        """The same, with udsoncan's ``security_algo`` signature."""
        return self.key(level, seed)

    def __repr__(self) -> str:
        return f"<SeedKey {self.spec} (parameters hidden)>"


def load_seed_key(spec: str, params: Mapping[str, Any], source: str, key: str) -> SeedKey:
    """Resolve ``module:function`` or an entry point name; errors name the file and key."""
    return SeedKey(spec, _resolve(spec, source, key), params)


def _resolve(spec: str, source: str, key: str) -> SeedKeyAlgorithm:
    try:
        found = load_object(spec) if ":" in spec else entry_point(ENTRY_POINT_GROUP, spec)
    except PluginError as exc:
        raise ConfigError(source, key, str(exc)) from exc
    if found is None:
        names = entry_point_names(ENTRY_POINT_GROUP)
        raise ConfigError(
            source,
            key,
            f"no seed-key algorithm {spec!r}{suggest(spec, names)}: give 'module:function' or "
            f"an entry point of group {ENTRY_POINT_GROUP!r} "
            f"(installed: {', '.join(names) or 'none'})",
        )
    if not callable(found):
        raise ConfigError(source, key, f"{spec!r} is not a function")
    return found  # type: ignore[no-any-return]


_SENDING = re.compile(r"(Sending \d+ bytes : \[)27([0-9a-f]{2})[0-9a-f]*(\])")
_FRAME = re.compile(r"^(Rx|Tx): ")


class RedactKeys(logging.Filter):
    """Keeps SecurityAccess keys out of udsoncan's and can-isotp's debug logs.

    udsoncan logs every payload it sends and the key it computed; can-isotp logs
    every CAN frame. Attached to those loggers, this filter rewrites sendKey
    payloads to ``<redacted>``, drops the key line, and drops can-isotp's per-frame
    lines (the frames are in the channel's history and trace).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "Key to send" in message or _FRAME.match(message):
            return False
        match = _SENDING.search(message)
        if match is not None and int(match.group(2), 16) % 2 == 0:
            record.msg = _SENDING.sub(r"\g<1>27\g<2> <redacted>\g<3>", message)
            record.args = None
        return True


REDACT_KEYS = RedactKeys()


def redact_logger(logger: logging.Logger) -> None:
    """Attach :data:`REDACT_KEYS` to ``logger`` (once)."""
    if REDACT_KEYS not in logger.filters:
        logger.addFilter(REDACT_KEYS)
