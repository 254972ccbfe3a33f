"""What a test says of the requirements it verifies, and one verdict per requirement.

A requirement is passed only when every test that names it passed: a test that was
skipped for want of something ("not tested"), had nothing declared to check ("not
verified", the plugin's skip reason) or was cut short ("interrupted") leaves it
unproven, and each is counted apart, never folded into "passed". The store keeps each
test's word on each of its requirements; the HTML report and ``harness results show``
show the verdict this module gives from them.

>>> verdict_of("skipped", "not verified: no checksum declared")
'not verified'
>>> requirement_verdict(["passed", "not tested"])
'not tested'
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

PASSED = "passed"
FAILED = "failed"
INTERRUPTED = "interrupted"
NOT_VERIFIED = "not verified"
NOT_TESTED = "not tested"
VERDICTS = (FAILED, INTERRUPTED, NOT_VERIFIED, NOT_TESTED, PASSED)
"""Every verdict, the one that decides a requirement first."""

_FAILING = ("failed", "error", "xpassed", "xfailed")
"""Outcomes that say a requirement is not met (an xfail is a known defect, not a pass)."""


def verdict_of(outcome: str, message: str = "") -> str:
    """A test's word on each requirement it names, from its outcome and message."""
    if outcome in _FAILING:
        return FAILED
    if outcome == INTERRUPTED:
        return INTERRUPTED
    if outcome == PASSED:
        return PASSED
    if outcome == "skipped" and message.startswith(NOT_VERIFIED):
        return NOT_VERIFIED
    return NOT_TESTED


def requirement_verdict(verdicts: Iterable[str]) -> str:
    """One verdict from its tests' verdicts: the first of :data:`VERDICTS` among them
    (so passed only when all passed); no test at all is "not tested"."""
    seen = set(verdicts)
    return next((v for v in VERDICTS if v in seen), NOT_TESTED)


@dataclass
class RequirementVerdict:
    """A requirement in one run: its clauses, its verdict, and its tests' verdicts."""

    id: str
    clauses: list[str] = field(default_factory=list)
    tests: list[tuple[str, str]] = field(default_factory=list)
    """(test node id, that test's verdict), in the order the tests ran."""

    @property
    def verdict(self) -> str:
        return requirement_verdict(v for _, v in self.tests)

    @property
    def counts(self) -> dict[str, int]:
        """Verdict -> how many of its tests gave it, in :data:`VERDICTS` order."""
        found = dict.fromkeys(VERDICTS, 0)
        for _, verdict in self.tests:
            found[verdict] = found.get(verdict, 0) + 1
        return {v: n for v, n in found.items() if n}


def by_requirement(rows: Iterable[tuple[str, str, str, str]]) -> list[RequirementVerdict]:
    """Requirements sorted by ID from (requirement, clause, test node id, verdict) rows."""
    found: dict[str, RequirementVerdict] = {}
    for ident, clause, nodeid, verdict in rows:
        entry = found.setdefault(ident, RequirementVerdict(ident))
        if clause and clause not in entry.clauses:
            entry.clauses.append(clause)
        entry.tests.append((nodeid, verdict))
    return [found[key] for key in sorted(found)]
