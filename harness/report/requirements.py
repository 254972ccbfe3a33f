"""The ``requirement`` marker: which requirement a test verifies, and the clause it checks.

>>> @pytest.mark.requirement("REQ-BCM-001", clause="ISO 14229-1 10.3")   # doctest: +SKIP
... def test_unsupported_service_gets_nrc_0x11(uds): ...

A test may carry several (more IDs in one marker, or more markers, also on its
class or module through ``pytestmark``); they end up in the JUnit XML, the results
store and the HTML report's "results by requirement". :func:`requirements_of` is
what other tools (``harness suites list``) read them with.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from harness.report.store import Requirement

MARKER = "requirement"
MARKER_HELP = (
    'requirement(*ids, clause=""): the requirement(s) this test verifies and the clause '
    "of the standard it checks, e.g. requirement('REQ-BCM-001', clause='ISO 14229-1 10.3'); "
    "shown in the JUnit XML, the results store and the HTML report."
)


class Marker(Protocol):
    """A pytest marker as far as requirements need one."""

    @property
    def args(self) -> tuple[Any, ...]: ...
    @property
    def kwargs(self) -> Mapping[str, Any]: ...


class Marked(Protocol):
    """A collected test (a ``pytest.Item``): this module does not import pytest, so the
    CLI can read markers without the plugin."""

    @property
    def nodeid(self) -> str: ...
    def iter_markers(self, name: str | None = None) -> Iterator[Marker]: ...


class RequirementMarkerError(ValueError):
    """A ``requirement`` marker is malformed (the plugin turns it into a usage error)."""


def requirements_of(item: Marked) -> list[Requirement]:
    """The requirements a test's markers name, closest first, each ID once.

    RequirementMarkerError names the test when a marker has no ID, a non-string ID,
    or keywords other than ``clause``.
    """
    found: dict[str, Requirement] = {}
    for marker in item.iter_markers(MARKER):
        unknown = sorted(set(marker.kwargs) - {"clause"})
        if unknown:
            raise RequirementMarkerError(
                f"{item.nodeid}: requirement() takes requirement IDs and clause=, "
                f"not {', '.join(unknown)}"
            )
        clause = marker.kwargs.get("clause", "")
        if not isinstance(clause, str):
            raise RequirementMarkerError(
                f"{item.nodeid}: requirement(clause=...) must be a string, got {clause!r}"
            )
        if not marker.args:
            raise RequirementMarkerError(
                f"{item.nodeid}: requirement() needs at least one requirement ID"
            )
        for ident in marker.args:
            if not isinstance(ident, str) or not ident.strip():
                raise RequirementMarkerError(
                    f"{item.nodeid}: requirement IDs must be non-empty strings, got {ident!r}"
                )
            found.setdefault(ident.strip(), Requirement(ident.strip(), clause.strip()))
    return list(found.values())
