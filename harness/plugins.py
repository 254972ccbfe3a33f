"""Things found by name: built-ins as ``"module:attribute"`` strings, imported when first
used, and third-party ones through entry points.

python-can's way with its interfaces: a bench without a modem never imports the modem
driver, and a lab's package adds a device kind, a diagnostic transport or a seed-key
algorithm by declaring an entry point, without a change here.

>>> kinds = Registry("greeting", "harness.examples", {"hello": "builtins:print"})
>>> kinds.get("hello") is print
True
>>> kinds.get("helo")
Traceback (most recent call last):
...
harness.exceptions.PluginError: no greeting 'helo' (did you mean 'hello'?); known: hello
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from importlib import metadata
from typing import Any, Generic, TypeVar, cast

from harness.datafile import suggest
from harness.exceptions import PluginError

T = TypeVar("T")


def load_object(spec: str) -> Any:
    """The attribute ``spec`` = ``"module:attribute"`` (dots allowed after the colon)."""
    module_name, colon, attribute = spec.partition(":")
    if not colon or not module_name or not attribute:
        raise PluginError(f"{spec!r} is not of the form 'module:attribute'")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise PluginError(f"cannot import {module_name!r}: {exc}") from exc
    for part in attribute.split("."):
        found = getattr(target, part, None)
        if found is None:
            names = [n for n in dir(target) if not n.startswith("_")]
            raise PluginError(f"{module_name!r} has no {attribute!r}{suggest(part, names)}")
        target = found
    return target


def entry_point(group: str, name: str) -> Any | None:
    """The object behind entry point ``name`` of ``group``, None when none is installed."""
    for candidate in metadata.entry_points(group=group):
        if candidate.name == name:
            try:
                return candidate.load()
            except Exception as exc:  # whatever the plugin's import raises
                raise PluginError(
                    f"entry point {name!r} ({candidate.value}) of group {group!r} "
                    f"fails to load: {exc}"
                ) from exc
    return None


def entry_point_names(group: str) -> list[str]:
    return sorted(candidate.name for candidate in metadata.entry_points(group=group))


class Registry(Generic[T]):
    """Names -> objects of one role: built-ins, what :meth:`register` adds, and the entry
    points of ``group``, in that order of precedence; each resolved once."""

    def __init__(self, what: str, group: str, builtins: Mapping[str, str]) -> None:
        self.what = what
        self.group = group
        self._specs: dict[str, str] = dict(builtins)
        self._loaded: dict[str, T] = {}

    def register(self, name: str, target: T | str) -> None:
        """Add (or replace) ``name``: an object, or a ``"module:attribute"`` string."""
        self._loaded.pop(name, None)
        if isinstance(target, str):
            self._specs[name] = target
        else:
            self._specs.pop(name, None)
            self._loaded[name] = target

    def names(self) -> list[str]:
        known = dict.fromkeys([*self._specs, *self._loaded, *entry_point_names(self.group)])
        return list(known)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.names()

    def get(self, name: str) -> T:
        """The object registered as ``name``; a PluginError with suggestions otherwise."""
        if name in self._loaded:
            return self._loaded[name]
        spec = self._specs.get(name)
        found = load_object(spec) if spec is not None else entry_point(self.group, name)
        if found is None:
            known = self.names()
            raise PluginError(
                f"no {self.what} {name!r}{suggest(name, known)}; known: {', '.join(known)}"
            )
        self._loaded[name] = cast("T", found)
        return self._loaded[name]
