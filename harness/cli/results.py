"""``harness results``: what the results store holds.

``list`` shows the newest runs, ``show RUN`` one run (its DUT, every test, the
files), ``dut PART_NUMBER`` the history of one part across runs, serial numbers
and firmware versions. RUN is a run id, a unique prefix of one, or ``latest``.
The store is ``--store`` (a SQLite file or a ``postgresql://`` URL), else
``$HARNESS_STORE``, else ``results/harness.sqlite``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.table import Table
from rich.text import Text

from harness.cli import BadInput
from harness.cli.output import make_console
from harness.report.identity import changes, label
from harness.report.store import DEFAULT_STORE, STORE_ENV, ResultsStore, RunSummary
from harness.report.verdicts import RequirementVerdict

DEFAULT_PATH = Path("results") / DEFAULT_STORE
OUTCOME_STYLES = {
    "passed": "green",
    "xfailed": "green",
    "failed": "red",
    "error": "red",
    "interrupted": "red",
    "xpassed": "red",
    "skipped": "dim",
    "incomplete": "yellow",
    "not tested": "dim",
    "not verified": "dim",
}


def store_target(store: str | None) -> str:
    """The store to read: the option, ``$HARNESS_STORE``, else ``results/harness.sqlite``."""
    return store or os.environ.get(STORE_ENV) or str(DEFAULT_PATH)


def open_store(store: str | None) -> ResultsStore:
    return ResultsStore.open(store_target(store), create=False)


store_option = click.option(
    "--store",
    metavar="FILE|URL",
    help=f"Results store: a SQLite file or a postgresql:// URL "
    f"(default: ${STORE_ENV}, else {DEFAULT_PATH}).",
)


def when(stamp: float | None) -> str:
    if stamp is None:
        return "-"
    return datetime.fromtimestamp(stamp, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def counts_text(counts: dict[str, int]) -> Text:
    text = Text()
    for outcome in ("passed", "failed", "error", "interrupted", "skipped", "xfailed", "xpassed"):
        if counts.get(outcome):
            if text:
                text.append(" ")
            text.append(f"{counts[outcome]} {outcome}", style=OUTCOME_STYLES.get(outcome, ""))
    return text or Text("no results", style="dim")


def status_text(summary: RunSummary) -> Text:
    text = Text(summary.state, style=OUTCOME_STYLES.get(summary.state, ""))
    if summary.identity_changed:
        text.append(" (DUT changed)", style="bold red")
    return text


def runs_table(runs: Iterable[RunSummary], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("run", "started (UTC)", "status", "bench", "part number", "serial", "software"):
        table.add_column(column)
    table.add_column("results")
    for run in runs:
        table.add_row(
            run.id,
            when(run.started_at),
            status_text(run),
            run.bench_name,
            run.part_number or "-",
            run.serial_number or "-",
            run.software_version or "-",
            counts_text(run.counts),
        )
    return table


def requirements_table(requirements: Iterable[RequirementVerdict]) -> Table:
    """One row per requirement: passed only when all its tests passed; the rest apart."""
    table = Table(title="requirements", title_justify="left")
    for column in ("requirement", "clause", "verdict", "its tests"):
        table.add_column(column, overflow="fold")
    for requirement in requirements:
        counts = ", ".join(f"{n} {verdict}" for verdict, n in requirement.counts.items())
        table.add_row(
            requirement.id,
            "; ".join(requirement.clauses),
            Text(requirement.verdict, style=OUTCOME_STYLES.get(requirement.verdict, "")),
            counts,
        )
    return table


@click.group(name="results")
def results() -> None:
    """Runs, DUTs and test results kept in the results store."""


@results.command(name="list")
@store_option
@click.option("-n", "--limit", type=click.IntRange(min=1), default=20, show_default=True)
def list_runs(store: str | None, limit: int) -> None:
    """The newest runs: status, bench, DUT and how their tests ended."""
    with open_store(store) as opened:
        runs = opened.runs(limit)
    console = make_console()
    if not runs:
        console.print(f"no runs in {store_target(store)}")
        return
    console.print(runs_table(runs, f"runs in {opened.where}"))


@results.command(name="show")
@click.argument("run")
@store_option
def show(run: str, store: str | None) -> None:
    """One run: its DUT (and whether that changed), every test (with what it measured),
    each requirement's verdict (passed only when all its tests passed), the files it left."""
    with open_store(store) as opened:
        record = opened.run(run)
    summary = record.summary
    console = make_console()
    console.print(Text.assemble(("run ", "bold"), (summary.id, "bold"), " ", status_text(summary)))
    console.print(f"started {when(summary.started_at)} UTC, finished {when(summary.finished_at)}")
    console.print(
        f"bench {summary.bench_name} ({record.bench.get('file', '-')}), host {record.host}"
    )
    console.print(f"command: {record.command}")
    console.print(Text("results: ").append_text(counts_text(summary.counts)))

    identity = Table(title="DUT identity", title_justify="left")
    for column in ("item", "start", "end", "source"):
        identity.add_column(column)
    end = {(v.source, v.key): v.value for v in record.identity.get("end", [])}
    changed = {(c.source, c.key) for c in changes(record.identity["start"], record.identity["end"])}
    for value in record.identity.get("start", []):
        style = "bold red" if (value.source, value.key) in changed else ""
        identity.add_row(
            label(value.key),
            value.value,
            end.get((value.source, value.key), "-"),
            value.source,
            style=style,
        )
    console.print(identity)
    for phase, errors in record.identity_errors.items():
        for source, error in errors.items():
            console.print(
                f"identity from {source} not read at the {phase}: {error}", style="yellow"
            )

    measured = any(result.figures for result in record.results)
    tests = Table(title="tests", title_justify="left")
    for column in ("test", "outcome", "seconds", "requirements", "message"):
        tests.add_column(column, overflow="fold")
    if measured:
        tests.add_column("measured", overflow="fold")
    for result in record.results:
        figures = "\n".join(f"{name} = {value:g}" for name, value in result.figures.items())
        tests.add_row(
            result.nodeid,
            Text(result.outcome, style=OUTCOME_STYLES.get(result.outcome, "")),
            f"{result.duration:.3f}",
            ", ".join(str(r) for r in result.requirements),
            result.message,
            *([figures] if measured else []),
        )
    console.print(tests)
    if record.requirements:
        console.print(requirements_table(record.requirements))
    files = [(r.nodeid, a) for r in record.results for a in r.artifacts]
    files += [("(run)", a) for a in record.artifacts]
    if files:
        table = Table(title="files", title_justify="left")
        for column in ("test", "kind", "path"):
            table.add_column(column, overflow="fold")
        for nodeid, artifact in files:
            kind = f"{artifact.kind} {artifact.label}".strip()
            table.add_row(nodeid, kind, artifact.path)
        console.print(table)


@results.command(name="dut")
@click.argument("part_number")
@store_option
def dut(part_number: str, store: str | None) -> None:
    """The history of one part: every run of it, oldest first, with serial number and
    software version, so results compare across firmware versions and lots."""
    with open_store(store) as opened:
        runs = opened.dut_history(part_number)
        known = [] if runs else opened.part_numbers()
    console = make_console()
    if not runs:
        hint = f"; part numbers in the store: {', '.join(known)}" if known else ""
        raise BadInput(f"no runs of part number {part_number!r}{hint}")
    console.print(runs_table(runs, f"part number {part_number}: {len(runs)} run(s)"))
