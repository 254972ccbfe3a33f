"""The data files the harness reads (bench files, ECU files, DUT profiles, device files):
TOML in, a validating :class:`Table` over it, and "did you mean" hints for names.

The foundation below every domain package: it imports nothing of the harness but its
exceptions, so any layer can validate its own section of a file the same way, and
every mistake names the file, the key path and what was expected.

>>> table = Table({"bitrate": 500000}, "bench.toml", "can.body")
>>> table.optional_int("bitrate")
500000
>>> table.error("bitrat", "unknown key").args[0]
'bench.toml: can.body.bitrat: unknown key'
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from harness.exceptions import ConfigError

T = TypeVar("T")


def suggest(name: str, candidates: list[str]) -> str:
    """A " (did you mean ...?)" hint, or an empty string when nothing is close."""
    close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.6)
    if not close:
        return ""
    return " (did you mean " + " or ".join(repr(c) for c in close) + "?)"


def read_toml(path: Path, kind: str) -> dict[str, Any]:
    """A TOML file as a dict; a missing, unreadable or malformed file is a ConfigError."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(source, "", f"no such {kind}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(source, "", f"cannot read: {exc}") from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, "", f"not valid TOML: {exc}") from exc


def apply_override(raw: dict[str, Any], override: str, source: str) -> None:
    """Set one dotted key in the raw document; the value is read as TOML, else as a string."""
    key, sep, text = override.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(source, override, "override must look like key.path=value")
    try:
        value: Any = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        value = text
    parts = key.split(".")
    table = raw
    for depth, part in enumerate(parts[:-1]):
        nested = table.setdefault(part, {})
        if not isinstance(nested, dict):
            where = ".".join(parts[: depth + 1])
            raise ConfigError(source, where, f"override {override!r} needs a table here")
        table = nested
    table[parts[-1]] = value


class Table:
    """One TOML table being validated: typed getters that name the key on error.
    Shared by every data file the harness reads (bench files, ECU files).

    ``finish()`` rejects whatever keys were not asked for, with suggestions.
    """

    def __init__(self, data: Mapping[str, Any], source: str, prefix: str) -> None:
        self.data = data
        self.source = source
        self.prefix = prefix
        self._seen: set[str] = set()

    def key(self, name: str) -> str:
        if not name:
            return self.prefix
        return f"{self.prefix}.{name}" if self.prefix else name

    def accept(self, *names: str) -> None:
        """Mark keys as known that the caller reads itself (free-form keys)."""
        self._seen.update(names)

    def error(self, name: str, problem: str) -> ConfigError:
        return ConfigError(self.source, self.key(name), problem)

    def _get(self, name: str, kinds: type | tuple[type, ...], expected: str, default: T) -> Any:
        self._seen.add(name)
        if name not in self.data:
            return default
        value = self.data[name]
        if isinstance(value, bool) and bool not in (
            kinds if isinstance(kinds, tuple) else (kinds,)
        ):
            raise self.error(name, f"expected {expected}, got {value!r}")
        if not isinstance(value, kinds):
            raise self.error(name, f"expected {expected}, got {type(value).__name__} {value!r}")
        return value

    def required_str(self, name: str) -> str:
        value: str | None = self._get(name, str, "a string", None)
        if value is None:
            typo = suggest(name, [k for k in self.data if k not in self._seen])
            raise self.error(
                name, f"missing (expected a string){typo.replace('did you mean', 'misspelled as')}"
            )
        if not value.strip():
            raise self.error(name, "must not be empty")
        return value

    def optional_str(self, name: str, default: str | None = None) -> str | None:
        value: str | None = self._get(name, str, "a string", default)
        return value

    def number(self, name: str, default: float, minimum: float = 0.0) -> float:
        value: float = self._get(name, (int, float), "a number", default)
        if value < minimum:
            raise self.error(name, f"expected a number >= {minimum:g}, got {value}")
        return float(value)

    def str_list(self, name: str) -> list[str]:
        value: list[Any] = self._get(name, list, "a list of strings", [])
        if not all(isinstance(item, str) for item in value):
            raise self.error(name, f"expected a list of strings, got {value!r}")
        return value

    def tables(self, name: str) -> list[Table]:
        """An array of tables (``[[name]]``)."""
        value: list[Any] = self._get(name, list, "an array of tables", [])
        if not all(isinstance(item, dict) for item in value):
            raise self.error(name, "expected an array of tables ([[...]])")
        return [Table(item, self.source, f"{self.key(name)}[{i}]") for i, item in enumerate(value)]

    def optional_int(self, name: str, minimum: int = 1) -> int | None:
        value: int | None = self._get(name, int, "an integer", None)
        if value is not None and value < minimum:
            raise self.error(name, f"expected an integer >= {minimum}, got {value}")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        value: bool = self._get(name, bool, "true or false", default)
        return value

    def table(self, name: str) -> Table:
        value: Mapping[str, Any] = self._get(name, dict, "a table", {})
        return Table(value, self.source, self.key(name))

    def free_form(self, name: str) -> Mapping[str, Any]:
        """A table whose keys belong to the user (or to a later layer): kept as is."""
        value: Mapping[str, Any] = self._get(name, dict, "a table", {})
        return MappingProxyType(dict(value))

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self._seen)
        if unknown:
            name = unknown[0]
            hint = suggest(name, sorted(self._seen))
            known = ", ".join(sorted(self._seen))
            raise self.error(name, f"unknown key{hint}; known keys here: {known}")
