"""The HTML report of a run: one self-contained file, built from the results store.

Summary, results by suite and by requirement, the DUT's identity at the start and
the end of the run, the bench, the versions of everything, links to the traces
and logs, and for each failure its evidence and plots of the signals it waited
on (PNG inside the page). Rendered with Jinja2 with autoescaping on: every string
(a DUT may answer anything to a VIN request) is escaped, and the page allows no
scripts at all (Content-Security-Policy), so nothing it shows can run.

>>> with ResultsStore.open("results/harness.sqlite") as store:            # doctest: +SKIP
...     write_report(store.run("latest"), Path("results/report.html"))
"""

from __future__ import annotations

import os
import urllib.parse
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2

from harness.exceptions import ReportError
from harness.report.identity import KEYS, changes, label
from harness.report.store import RunRecord, TestResult
from harness.report.verdicts import VERDICTS

REPORT_NAME = "report.html"
BAD_OUTCOMES = ("failed", "error", "interrupted", "xpassed")
OUTCOME_ORDER = ("passed", "failed", "error", "interrupted", "skipped", "xfailed", "xpassed")


_BENCH_DEFAULTS: dict[str, Any] = {
    "description": "",
    "file": "",
    "channels": [],
    "simulation": [],
    "serial": [],
}
"""What a report shows of a bench whose description in the store lacks a part."""
_ENVIRONMENT_DEFAULTS: dict[str, Any] = {
    "harness": "-",
    "python": "-",
    "platform": "-",
    "packages": {},
}


@dataclass
class IdentityRow:
    key: str
    label: str
    source: str
    start: str
    end: str | None
    changed: bool


@dataclass
class Link:
    kind: str
    label: str
    href: str
    path: str


@dataclass
class FailureView:
    result: TestResult
    plots: list[tuple[str, str]] = field(default_factory=list)
    """(title, base64 PNG)."""
    links: list[Link] = field(default_factory=list)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("harness.report", "templates"),
        autoescape=True,  # every string, whatever the template's name
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["seconds"] = _seconds
    return env


def _when(stamp: float | None) -> str:
    if stamp is None:
        return "-"
    return datetime.fromtimestamp(stamp, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f} s" if value < 60 else f"{value / 60:.1f} min"


def _href(path: str, base: Path) -> str:
    """A relative link from the report's folder, percent-encoded (never a URL scheme)."""
    target = Path(path)
    try:
        relative = os.path.relpath(target, base)
    except ValueError:  # another drive (Windows)
        relative = target.as_posix()
    return urllib.parse.quote(Path(relative).as_posix())


def verdict(outcomes: Iterable[str]) -> str:
    seen = set(outcomes)
    if seen & set(BAD_OUTCOMES):
        return "failed"
    if not seen or seen <= {"skipped"}:
        return "skipped"
    return "passed"


def identity_rows(run: RunRecord) -> list[IdentityRow]:
    start = run.identity.get("start", [])
    end = {(v.source, v.key): v.value for v in run.identity.get("end", [])}
    changed = {(c.source, c.key) for c in changes(start, run.identity.get("end", []))}
    order = list(KEYS)
    rows = [
        IdentityRow(
            key=v.key,
            label=label(v.key),
            source=v.source,
            start=v.value,
            end=end.get((v.source, v.key)),
            changed=(v.source, v.key) in changed,
        )
        for v in start
    ]
    rows.sort(key=lambda r: (order.index(r.key) if r.key in order else len(order), r.key))
    return rows


def render_report(run: RunRecord, base: Path, *, plots: bool = True) -> str:
    """The report's HTML; links are relative to ``base`` (the folder it will be written to)."""
    from harness.report.plots import render_png  # noqa: PLC0415 - matplotlib is slow to import

    results = run.results
    counts = Counter(r.outcome for r in results)
    suites: dict[str, list[TestResult]] = {}
    for result in results:
        suites.setdefault(result.suite, []).append(result)
    links = {
        result.nodeid: [
            Link(a.kind, a.label, _href(a.path, base), a.path) for a in result.artifacts
        ]
        for result in results
    }
    failures = []
    for result in results:
        if result.outcome not in BAD_OUTCOMES:
            continue
        view = FailureView(result, links=links[result.nodeid])
        if plots:
            for plot in result.plots:
                title = f"{plot.get('message', '')} on {plot.get('channel', '')}"
                view.plots.append((title, render_png(plot)))
        failures.append(view)
    identity_errors = sorted(
        (phase, source, error)
        for phase, errors in run.identity_errors.items()
        for source, error in errors.items()
    )
    template = _environment().get_template("report.html.j2")
    return template.render(
        run=run,
        summary=run.summary,
        counts=[(o, counts[o]) for o in OUTCOME_ORDER if counts[o]],
        total=len(results),
        verdict=_run_verdict(run),
        banner=banner(_run_verdict(run), counts, len(results)),
        identity=identity_rows(run),
        identity_errors=identity_errors,
        identity_changes=changes(run.identity.get("start", []), run.identity.get("end", [])),
        suites=suites,
        requirements=run.requirements,
        requirement_counts=[
            (v, n) for v in VERDICTS if (n := sum(r.verdict == v for r in run.requirements))
        ],
        names={r.nodeid: r.name for r in results},
        failures=failures,
        links=links,
        run_links=[Link(a.kind, a.label, _href(a.path, base), a.path) for a in run.artifacts],
        bench={**_BENCH_DEFAULTS, "name": run.summary.bench_name, **run.bench},
        environment={**_ENVIRONMENT_DEFAULTS, **run.environment},
        generated=_when(datetime.now(tz=UTC).timestamp()),
    )


def banner(verdict: str, counts: Counter[str], total: int) -> str:
    """The banner's words: how many of the tests decided the verdict, of how many."""
    tests = f"{total} test{'' if total == 1 else 's'}"
    if verdict == "failed":
        return f"FAILED: {sum(counts[o] for o in BAD_OUTCOMES if o != 'interrupted')} of {tests}"
    if verdict == "passed":
        return f"PASSED: {counts['passed'] + counts['xfailed']} of {tests}"
    if verdict in ("interrupted", "incomplete"):
        finished = total - counts["interrupted"]
        return f"{verdict.upper()}: {finished} of {tests} finished"
    return f"{verdict.upper()}: {tests}"


def _run_verdict(run: RunRecord) -> str:
    summary = run.summary
    if summary.status == "running":
        return "incomplete"
    if summary.status == "interrupted":
        return "interrupted"
    outcome = verdict(r.outcome for r in run.results)
    if summary.status in ("failed", "error") and outcome != "failed":
        return "failed"
    return outcome


def write_report(run: RunRecord, path: Path, *, plots: bool = True) -> Path:
    """Render the report and write it to ``path`` (its folder is created)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        html = render_report(run, path.parent.resolve(), plots=plots)
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(html, encoding="utf-8")
        temporary.replace(path)  # a reader never sees half a report
    except OSError as exc:
        raise ReportError(
            f"{path}: cannot write the report of run {run.summary.id}: {exc}"
        ) from exc
    except jinja2.TemplateError as exc:
        raise ReportError(f"report of run {run.summary.id}: template error: {exc}") from exc
    return path
