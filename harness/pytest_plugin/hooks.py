"""Options, markers, collection and reporting hooks.

Where the bench comes from, first match wins: ``--bench`` on the command
line, ``$HARNESS_BENCH``, the ``bench`` ini option (relative to the rootdir),
then ``fixtures/benches/virtual.toml`` under the rootdir. The environment beats
the ini file so CI can point a project's suites at its own bench.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path

import pytest

from harness.bench import Bench
from harness.canbus.history import Mark
from harness.config import (
    BENCH_ENV,
    BenchConfig,
    load_bench,
    overrides_from_env,
    require_something_to_test,
    resolve_bench_path,
)
from harness.datafile import suggest
from harness.exceptions import ExpectationError, HarnessError, NotVerifiedError

NOT_VERIFIED = "not verified: "
"""How a skip reason starts when a check had nothing declared to verify."""

RESOURCE_KINDS = ("can", "serial", "power", "diagnostics", "simulation")
EVIDENCE_LINES = 40
"""Frames per channel shown in a failing test's "harness traffic" section."""

config_key = pytest.StashKey[BenchConfig | HarnessError]()
bench_key = pytest.StashKey[Bench]()
marks_key = pytest.StashKey[dict[str, Mark]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "ECU test harness")
    group.addoption(
        "--bench",
        metavar="PATH",
        help=f"bench file to run against (default: ${BENCH_ENV}, the 'bench' ini option, "
        "else fixtures/benches/virtual.toml).",
    )
    group.addoption(
        "--bench-set",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="override one key of the bench file, e.g. can.body.channel=can1 (repeatable).",
    )
    parser.addini("bench", "bench file to run against, relative to the rootdir.")
    parser.addini("bench_set", "bench overrides, one KEY=VALUE per line.", type="linelist")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "requires(*resources): skip unless the bench has them: 'can', 'can:NAME', "
        "'serial:NAME', 'power', 'diagnostics', 'simulation'.",
    )


def bench_path(config: pytest.Config) -> Path:
    """The bench file this run uses (see the module docstring for the precedence)."""
    option = config.getoption("--bench")
    if option:
        return Path(option)
    if os.environ.get(BENCH_ENV):
        return resolve_bench_path(None)
    ini = config.getini("bench")
    if ini:
        return config.rootpath / str(ini)
    return resolve_bench_path(None, root=config.rootpath)


def bench_overrides(config: pytest.Config) -> list[str]:
    """Overrides from the ini file, then the environment, then the command line."""
    ini: list[str] = config.getini("bench_set")
    return [*ini, *overrides_from_env(), *config.getoption("--bench-set")]


def get_bench_config(config: pytest.Config) -> BenchConfig:
    """The run's bench configuration, loaded once; a broken file raises the same error each time."""
    cached = config.stash.get(config_key, None)
    if cached is None:
        try:
            cached = require_something_to_test(
                load_bench(bench_path(config), bench_overrides(config))
            )
        except HarnessError as exc:
            cached = exc
        config.stash[config_key] = cached
    if isinstance(cached, HarnessError):
        raise cached
    return cached


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip tests whose ``requires`` marker names something the bench does not have."""
    marked = [(item, item.iter_markers("requires")) for item in items]
    if not any(item.get_closest_marker("requires") for item in items):
        return
    try:
        bench = get_bench_config(config)
    except HarnessError as exc:
        raise pytest.UsageError(f"harness: {exc}") from None
    for item, markers in marked:
        for marker in markers:
            for spec in marker.args:
                missing = _missing(bench, str(spec))
                if missing:
                    item.add_marker(pytest.mark.skip(reason=missing))


def _missing(bench: BenchConfig, spec: str) -> str | None:
    """Why the bench cannot serve ``spec`` (e.g. "serial:modem"), or None when it can."""
    kind, _, name = spec.partition(":")
    if kind not in RESOURCE_KINDS:
        hint = suggest(kind, list(RESOURCE_KINDS))
        raise pytest.UsageError(
            f"requires({spec!r}): unknown resource kind {kind!r}{hint}; "
            f"kinds: {', '.join(RESOURCE_KINDS)}"
        )
    if bench.has(kind, name or None):
        return None
    what = f"{kind} {name!r}" if name else kind
    return f"bench {bench.name!r} ({bench.path}) has no {what}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """Mark every open channel as the test body starts, for the failure evidence; a
    check that could not run (NotVerifiedError) makes the test a "not verified" skip."""
    bench = item.config.stash.get(bench_key, None)
    if bench is not None:
        item.stash[marks_key] = {name: channel.mark() for name, channel in bench.can.items()}
    try:
        return (yield)
    except NotVerifiedError as exc:
        raise pytest.skip.Exception(f"{NOT_VERIFIED}{exc}", _use_item_location=True) from None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On a failed expectation, add the decoded traffic of the test to the report."""
    report = yield
    failed_expectation = (
        report.when == "call"
        and call.excinfo is not None
        and call.excinfo.errisinstance(ExpectationError)
    )
    if failed_expectation:
        error = call.excinfo.value if call.excinfo is not None else None
        section = _traffic_section(item, getattr(error, "origin", None))
        if section:
            report.sections.append(("harness traffic", section))
    if report.when == "call" and report.failed:
        section = _doip_section(item)
        if section:
            report.sections.append(("harness doip", section))
    return report


def _doip_section(item: pytest.Item) -> str:
    """The DoIP messages of the test's UDS tester when it runs over DoIP (the TCP traffic
    no CAN trace holds): the last :data:`EVIDENCE_LINES`, times from the first."""
    link = getattr(getattr(item, "funcargs", {}).get("uds"), "link", None)
    messages = getattr(link, "messages", None)
    if link is None or not callable(messages):
        return ""
    records = messages()
    if not records:
        return ""
    shown = records[-EVIDENCE_LINES:]
    head = f"{link.name}: {len(records)} DoIP messages"
    if len(shown) < len(records):
        head += f", the last {len(shown)}"
    start = records[0].time
    return "\n".join([head + ":"] + [f"  {record.describe(start)}" for record in shown])


def _traffic_section(item: pytest.Item, origin: float | None) -> str:
    """Every channel's frames of the test, timed from ``origin`` (the failed expectation's
    mark, the origin of its message; else the test's start), so one frame has one time
    in the message and here."""
    bench = item.config.stash.get(bench_key, None)
    marks = item.stash.get(marks_key, {})
    if bench is None or not marks:
        return ""
    start = min(mark.timestamp for mark in marks.values())
    if origin is None:
        parts = ["times from the test's start"]
        origin = start
    else:
        started = f"{start - origin:+.4f} s"
        parts = [
            f"times from the failed expectation's mark, as in its message (test start {started})"
        ]
    for name, mark in marks.items():
        channel = bench.can[name]
        frames = channel.history.since(mark.seq)
        shown = frames[-EVIDENCE_LINES:]
        head = f"channel {name!r}: {len(frames)} frames during the test"
        if origin != start:
            head += f", {sum(f.timestamp >= origin for f in frames)} since the mark"
        if len(shown) < len(frames):
            head += f", the last {len(shown)}"
        if channel.trace_path:
            head += f"; trace: {channel.trace_path}"
        lines = [head + ":"] + [f"  {f.describe(origin)}" for f in shown]
        parts.append("\n".join(lines))
    return "\n".join(parts)
