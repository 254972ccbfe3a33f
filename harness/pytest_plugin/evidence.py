"""Evidence for every test: per-test traces, the DUT's identity, JUnit properties, the
results store and the HTML report.

A *run* starts when the ``bench`` fixture opens the bench (a session that never
touches a bench records nothing). From then on:

- every CAN channel of the bench is recorded per test, setup to teardown, to
  ``RESULTS/runs/RUN/traces/<test>.<channel>.blf`` (``--harness-trace-format asc``
  for ASC), written as frames arrive and closed even when the test crashes or the
  run is interrupted; only failing tests keep theirs unless ``--harness-keep-traces
  all``. ``channel.trace_path`` names the file while the test runs, so failures
  show it. Other layers add their own files (serial logs) with :func:`add_artifact`
  at a path from :func:`evidence_path`;
- the DUT's identity is read at the start and the end of the run
  (:mod:`harness.report.identity`) and a change is flagged;
- each test's result goes to the results store when it ends (SQLite at
  ``RESULTS/harness.sqlite`` unless ``--harness-store`` names another file or a
  ``postgresql://`` URL), with its requirement IDs, evidence and files;
- the JUnit XML gets properties: requirement IDs and clauses, trace paths per test;
  DUT identity, bench and run per suite. The schema of the ``junit_family`` in force
  decides where per-test ones go: under xunit2 (pytest's default) a testcase may not
  carry ``<properties>``, so they are testsuite properties named ``NODEID NAME``;
  under xunit1/legacy they are the testcase's. Without ``--junitxml`` the run still
  writes one, into its folder beside the report;
- at the end the HTML report is written to ``RESULTS/runs/RUN/report.html``
  (``RESULTS/latest`` points at the newest run).

``--harness-results none`` switches all of it off.

Under pytest-xdist each worker opens its own bench and records its tests' traces into
the one run folder the controller chose (handed over in ``workerinput``); what would go
to the store and the JUnit XML travels to the controller as messages on the worker's
test reports (``report.harness``; what is left at the end in ``workeroutput``), and the
controller alone writes the store, the JUnit XML, the HTML report and the summary.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import threading
from collections.abc import Callable, Generator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from _pytest.junitxml import xml_key  # pytest's own JUnit writer, for suite properties

from harness import clock
from harness.bench import Bench
from harness.canbus.history import Mark
from harness.exceptions import ExpectationError, HarnessError
from harness.pytest_plugin.hooks import bench_key
from harness.pytest_plugin.support import forwarded_key, junit_property
from harness.report.environment import environment
from harness.report.identity import IdentityReading, Value, changes, read_identity
from harness.report.requirements import (
    MARKER_HELP,
    RequirementMarkerError,
    requirements_of,
)
from harness.report.store import (
    DEFAULT_STORE,
    STORE_ENV,
    Artifact,
    Requirement,
    ResultsStore,
    RunInfo,
    TestResult,
)
from harness.trace.recorder import TRACE_FORMATS, TraceRecorder

DEFAULT_RESULTS = "results"
KEEP_CHOICES = ("failed", "all")
OFF = ("none", "off", "")
SECTION_CHARS = 20_000
"""Characters of each report section (and of the traceback) the store keeps."""
STEM_CHARS = 120
WORKER_KEY = "harness_evidence"
"""Key of the run in an xdist worker's ``workerinput`` and of its messages in ``workeroutput``."""

session_key = pytest.StashKey["EvidenceSession"]()
test_key = pytest.StashKey["TestEvidence"]()
artifacts_key = pytest.StashKey[list[Artifact]]()
figures_key = pytest.StashKey[dict[str, float]]()
own_junit_key = pytest.StashKey[bool]()
"""Set when the harness chose the JUnit path because no --junitxml was given."""
"""Per-test files any layer wants linked in the reports: append with :func:`add_artifact`."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "ECU test harness")
    group.addoption(
        "--harness-results",
        metavar="DIR",
        help="where traces, the HTML report and the SQLite results store go "
        f"(default: the 'harness_results' ini option, else {DEFAULT_RESULTS}/ in the rootdir); "
        "'none' records nothing.",
    )
    group.addoption(
        "--harness-trace-format",
        choices=TRACE_FORMATS,
        help="per-test CAN trace format (default: ini 'harness_trace_format', else blf).",
    )
    group.addoption(
        "--harness-keep-traces",
        choices=KEEP_CHOICES,
        help="keep the traces of failed tests only, or of all tests "
        "(default: ini 'harness_keep_traces', else failed).",
    )
    group.addoption(
        "--harness-store",
        metavar="FILE|URL",
        help=f"results store: a SQLite file or a postgresql:// URL (default: ${STORE_ENV}, the "
        f"'harness_store' ini option, else {DEFAULT_STORE} in the results directory).",
    )
    parser.addini("harness_results", "results directory, relative to the rootdir ('none': off).")
    parser.addini("harness_trace_format", "per-test CAN trace format: blf or asc.")
    parser.addini("harness_keep_traces", "keep traces of 'failed' tests only, or 'all'.")
    parser.addini("harness_store", "results store: a SQLite file (relative to the rootdir) or URL.")


@dataclass(frozen=True)
class Settings:
    results: Path | None
    """None: evidence is off."""
    trace_format: str
    keep: str
    store: str | None
    """A path or URL; None under xdist workers (the controller writes the store)."""

    @classmethod
    def from_config(cls, config: pytest.Config) -> Settings:
        option = config.getoption("--harness-results")
        ini = str(config.getini("harness_results") or "")
        worker = getattr(config, "workerinput", None)
        if worker is not None:  # the controller decided
            handed = worker.get(WORKER_KEY)
            results = Path(handed["results"]) if handed else None
        elif option is not None:
            results = None if option.lower() in OFF else Path(option).resolve()
        elif ini:
            results = None if ini.lower() in OFF else config.rootpath / ini
        else:
            results = config.rootpath / DEFAULT_RESULTS
        fmt = config.getoption("--harness-trace-format") or config.getini("harness_trace_format")
        fmt = str(fmt or "blf").lower()
        if fmt not in TRACE_FORMATS:
            raise pytest.UsageError(
                f"harness_trace_format = {fmt!r}: choose one of {', '.join(TRACE_FORMATS)}"
            )
        keep = config.getoption("--harness-keep-traces") or config.getini("harness_keep_traces")
        keep = str(keep or "failed").lower()
        if keep not in KEEP_CHOICES:
            raise pytest.UsageError(
                f"harness_keep_traces = {keep!r}: choose one of {', '.join(KEEP_CHOICES)}"
            )
        store: str | None = None
        if results is not None and not hasattr(config, "workerinput"):
            store = _store_target(config, results)
        return cls(results, fmt, keep, store)


def _store_target(config: pytest.Config, results: Path) -> str:
    option = config.getoption("--harness-store")
    if option:
        return str(option) if "://" in str(option) else str(Path(option).resolve())
    env = os.environ.get(STORE_ENV)
    if env:
        return env
    ini = str(config.getini("harness_store") or "")
    if ini:
        return ini if "://" in ini else str(config.rootpath / ini)
    return str(results / DEFAULT_STORE)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Before pytest's JUnit writer is set up: a recorded run without ``--junitxml``
    gets one (in the results folder; :meth:`EvidenceSession.finish` moves it into the
    run's folder)."""
    config.addinivalue_line("markers", MARKER_HELP)
    settings = Settings.from_config(config)
    config.stash[session_key] = EvidenceSession(config, settings)
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(XdistRelay(config), "harness-xdist-relay")
    recorded = settings.store is not None and settings.results is not None
    if recorded and not getattr(config.option, "xmlpath", None):
        assert settings.results is not None
        config.option.xmlpath = str(settings.results / f".junit-{os.getpid()}.xml")
        config.stash[own_junit_key] = True


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Check every ``requirement`` marker now, so a typo stops the run before it starts."""
    for item in items:
        try:
            requirements_of(item)
        except RequirementMarkerError as exc:
            raise pytest.UsageError(f"harness: {exc}") from None


# -- per test ---------------------------------------------------------------------------


@dataclass
class TestEvidence:
    """What one test leaves behind: its traces, files from other layers, its reports."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    nodeid: str
    stem: str
    directory: Path | None
    started_at: float = field(default_factory=clock.wall)
    recorders: list[TraceRecorder] = field(default_factory=list)
    marks: dict[str, Mark] = field(default_factory=dict)
    reports: list[pytest.TestReport] = field(default_factory=list)
    plots: list[dict[str, Any]] = field(default_factory=list)
    traces: list[Artifact] = field(default_factory=list)
    files: list[Artifact] = field(default_factory=list)
    """Other layers' files (serial logs...), as kept when the test ended."""
    requirements: list[Requirement] = field(default_factory=list)
    """Taken when the test starts: a test the run stops in keeps its requirements."""
    finished: bool = False

    def path(self, suffix: str) -> Path | None:
        """Where this test's file ``<test><suffix>`` goes (None when evidence is off)."""
        if self.directory is None:
            return None
        return self.directory / f"{self.stem}{suffix}"


def add_artifact(
    item: pytest.Item, path: str | os.PathLike[str], kind: str, label: str = ""
) -> None:
    """Link a file to a test in the reports (JUnit property, store, HTML), e.g. a serial log:
    ``add_artifact(item, log_path, "serial-log", "modem")``. Files under the run's traces
    folder follow ``--harness-keep-traces`` (deleted when the test passes, by default)."""
    item.stash.setdefault(artifacts_key, []).append(Artifact(kind, str(Path(path)), label))


def evidence_path(item: pytest.Item, suffix: str) -> Path | None:
    """Where a layer should write a file of this test: ``RESULTS/runs/RUN/traces/<test><suffix>``
    (e.g. ``suffix=".modem.log"``); None when no run is being recorded."""
    evidence = item.stash.get(test_key, None)
    return evidence.path(suffix) if evidence is not None else None


@pytest.fixture
def evidence(request: pytest.FixtureRequest) -> TestEvidence:
    """This test's evidence: ``evidence.path(".scope.csv")`` is where to write a file of
    its own; ``add_artifact(request.node, path, kind)`` links it in the reports."""
    item: pytest.Item = request.node
    found: TestEvidence | None = item.stash.get(test_key, None)
    if found is None:
        found = TestEvidence(item.nodeid, test_stem(item.nodeid), None)
    return found


@pytest.fixture
def record_figure(request: pytest.FixtureRequest) -> Callable[[str, float], None]:
    """Record a figure the test measured (a latency, a start-up time): it goes to the
    results store and the HTML report with the test's result, and into its JUnit test
    case as a property. (pytest's ``record_property`` warns under the default
    ``junit_family``, xunit2, on every use.)"""
    item: pytest.Item = request.node

    def record(name: str, value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"record_figure({name!r}, {value!r}): a figure is a number")
        item.stash.setdefault(figures_key, {})[name] = float(value)
        junit_property(item, name, value)

    return record


def test_stem(nodeid: str) -> str:
    """A file name for a test: ``examples.test_doors.test_unlock[LOW_BEAM]`` style, only
    characters safe everywhere, long names cut and made unique with a hash."""
    path, _, rest = nodeid.partition("::")
    module = re.sub(r"\.py$", "", path).replace("/", ".").replace("\\", ".")
    module = re.sub(r"^(tests|testsuites)\.", "", module)
    text = ".".join(part for part in (module, rest.replace("::", ".")) if part)
    stem = re.sub(r"[^A-Za-z0-9._\-\[\]]+", "_", text).replace("[", "-").replace("]", "")
    if len(stem) > STEM_CHARS:
        digest = hashlib.sha1(nodeid.encode(), usedforsecurity=False).hexdigest()[:8]
        stem = f"{stem[: STEM_CHARS - 9]}-{digest}"
    return stem


test_stem.__test__ = False  # type: ignore[attr-defined]


# -- the run ----------------------------------------------------------------------------


class EvidenceSession:
    """One pytest session's evidence: the run in the store, the open tests, the end."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.run_id: str | None = None
        self.run_dir: Path | None = None
        self.bench: Bench | None = None
        self.store: ResultsStore | None = None
        self.current: pytest.Item | None = None
        self.open: dict[str, TestEvidence] = {}
        self.pending: list[TestResult] = []
        """Results of tests that ended before the run started (written when it does)."""
        self.problems: list[str] = []
        self.interrupted = False
        self.identity_change: list[str] = []
        self.report_path: Path | None = None
        self.planned: tuple[str, Path] | None = None
        """The run's ID and folder, chosen before a bench opens (by an xdist controller)."""
        self.outbox: list[list[Any]] | None = None
        """On an xdist worker: what the controller is to record (see :meth:`absorb`)."""
        self._properties: set[tuple[str, str]] = set()
        self._stems: set[str] = set()
        self._previous_sigterm: Any = None
        handed = getattr(config, "workerinput", {}).get(WORKER_KEY)
        if handed and self.enabled:
            self.planned = (handed["run_id"], Path(handed["run_dir"]))
            self.outbox = config.workeroutput.setdefault(WORKER_KEY, [])  # type: ignore[attr-defined]

    @property
    def enabled(self) -> bool:
        return self.settings.results is not None

    @property
    def started(self) -> bool:
        return self.run_id is not None

    @property
    def records(self) -> bool:
        """Whether test results are kept: into the store, or sent to the xdist controller."""
        return self.settings.store is not None or self.outbox is not None

    def problem(self, text: str) -> None:
        if self.outbox is not None:
            self._send("problem", text)
        elif text not in self.problems:
            self.problems.append(text)

    def _send(self, kind: str, *args: Any) -> None:
        """Queue a message for the controller, as plain data execnet can carry."""
        assert self.outbox is not None
        self.outbox.append(json.loads(json.dumps([kind, *args], default=_plain)))

    # -- under pytest-xdist: the controller's side -------------------------------------

    def plan(self) -> dict[str, str]:
        """Choose the run for the workers to join (the controller, before they start)."""
        assert self.settings.results is not None
        if self.planned is None:
            run_id = new_run_id()
            self.planned = (run_id, self.settings.results / "runs" / run_id)
        run_id, run_dir = self.planned
        return {"results": str(self.settings.results), "run_id": run_id, "run_dir": str(run_dir)}

    def absorb(self, messages: list[list[Any]]) -> None:
        """Record what a worker sent: its run's start, identity readings, suite
        properties, test results and problems."""
        for kind, *args in messages:
            if kind == "start":
                self._open_run(RunInfo(**args[0]))
            elif kind == "identity":
                phase, data = args
                reading = IdentityReading(
                    read_at=data["read_at"],
                    entries=[Value(**v) for v in data["entries"]],
                    errors=data["errors"],
                )
                self._store_identity(phase, reading)
                if phase == "end":
                    self._compare_identity(reading)
            elif kind == "property":
                self._suite_property(*args)
            elif kind == "result" and self.started:
                self._write_result(_result_from(args[0]))
            elif kind == "result":  # from a worker that never opened a bench, so far
                self.pending.append(_result_from(args[0]))
            elif kind == "problem" and args[0] not in self.problems:
                self.problems.append(args[0])

    def _open_run(self, info: RunInfo) -> None:
        """The first worker's bench opened: the run starts in the store."""
        if self.started or self.planned is None:
            return
        self.run_id, self.run_dir = self.planned
        info.command = self._command()
        self._start_in_store(info)
        for result in self.pending:
            self._write_result(result)
        self.pending.clear()

    # -- starting ---------------------------------------------------------------------

    def start(self, bench: Bench) -> None:
        """The bench just opened: start the run, stamp the DUT's identity."""
        assert self.settings.results is not None
        self.bench = bench
        if self.planned is not None:
            self.run_id, self.run_dir = self.planned
        else:
            self.run_id = new_run_id()
            self.run_dir = self.settings.results / "runs" / self.run_id
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._catch_sigterm()
        if self.outbox is not None:
            self._send("start", asdict(self._run_info(bench)))
        else:
            self._start_in_store(self._run_info(bench))
        reading = read_identity(bench)
        self._record_identity("start", reading)
        for name, value in (
            ("harness_run", self.run_id),
            ("bench", bench.name),
            ("bench_file", str(bench.config.path)),
        ):
            self._suite_property(name, value)
        for key, value in reading.values.items():
            self._suite_property(f"dut.{key}", value)
        for result in self.pending:
            self._write_result(result)
        self.pending.clear()
        if self.current is not None and self.current.nodeid not in self.open:
            self.begin(self.current)

    def _start_in_store(self, info: RunInfo) -> None:
        if self.settings.store is None:
            return
        try:
            self.store = ResultsStore.open(self.settings.store)
            self.store.start_run(info)
        except HarnessError as exc:
            self.problem(f"results store not written: {exc}")
            if self.store is not None:
                self.store.close()
            self.store = None

    def _command(self) -> str:
        args = " ".join(shlex.quote(str(a)) for a in self.config.invocation_params.args)
        return f"pytest {args}".strip()

    def _run_info(self, bench: Bench) -> RunInfo:
        assert self.run_id is not None
        assert self.settings.results is not None
        return RunInfo(
            id=self.run_id,
            started_at=clock.wall(),
            bench_name=bench.name,
            bench=describe_bench(bench),
            environment=environment(),
            results_dir=str(self.settings.results),
            command=self._command(),
            host=socket.gethostname(),
        )

    def _record_identity(self, phase: str, reading: IdentityReading) -> None:
        for source, error in reading.errors.items():
            self.problem(f"DUT identity ({source}) could not be read at the {phase}: {error}")
        if self.outbox is not None:
            self._send("identity", phase, asdict(reading))
        else:
            self._store_identity(phase, reading)

    def _store_identity(self, phase: str, reading: IdentityReading) -> None:
        if self.store is None or self.run_id is None:
            return
        try:
            self.store.record_identity(self.run_id, phase, reading)
        except HarnessError as exc:
            self.problem(str(exc))

    def _suite_property(self, name: str, value: str) -> None:
        """A testsuite property, once (every xdist worker sends the bench's and DUT's)."""
        if self.outbox is not None:
            self._send("property", name, value)
            return
        xml = self.config.stash.get(xml_key, None)
        if xml is not None and (name, value) not in self._properties:
            self._properties.add((name, value))
            xml.add_global_property(name, value)

    def _catch_sigterm(self) -> None:
        """SIGTERM (a CI timeout, ``kill``) ends the run like Ctrl-C: traces closed, run
        marked interrupted. Only where nobody else handles SIGTERM."""
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return
        self._previous_sigterm = signal.signal(signal.SIGTERM, _interrupt)

    def _release_sigterm(self) -> None:
        if self._previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None

    # -- tests --------------------------------------------------------------------------

    def begin(self, item: pytest.Item) -> TestEvidence:
        """Start recording a test (from its setup on)."""
        stem = test_stem(item.nodeid)
        while stem in self._stems:
            stem += "_"
        self._stems.add(stem)
        directory = self.run_dir / "traces" if self.run_dir is not None else None
        evidence = TestEvidence(item.nodeid, stem, directory, requirements=_requirements(item))
        item.stash[test_key] = evidence
        self.open[item.nodeid] = evidence
        if self.bench is None or directory is None:
            return evidence
        for name, channel in self.bench.can.items():
            evidence.marks[name] = channel.mark()
            path = directory / f"{stem}.{name}.{self.settings.trace_format}"
            try:
                evidence.recorders.append(TraceRecorder(channel, path))
            except HarnessError as exc:
                self.problem(f"{item.nodeid}: not recorded: {exc}")
        return evidence

    def failed_expectation(
        self, item: pytest.Item, error: ExpectationError, failed_at: float
    ) -> None:
        """Keep plot data of the signals a failed expectation waited on."""
        evidence = item.stash.get(test_key, None)
        if evidence is None or self.bench is None or not error.evidence:
            return
        from harness.canbus.frame import Frame  # noqa: PLC0415
        from harness.report.plots import signal_series  # noqa: PLC0415

        frames: list[Frame] = []
        for name, mark in evidence.marks.items():
            frames.extend(self.bench.can[name].history.since(mark.seq))
        origin = error.origin  # the message's times and the plot's are one
        if origin is None:
            origin = min((m.timestamp for m in evidence.marks.values()), default=clock.now())
        evidence.plots = signal_series(
            frames,
            [f for f in error.evidence if isinstance(f, Frame)],
            origin=origin,
            failed_at=failed_at,
            headline=str(error).splitlines()[0] if str(error) else "",
        )

    def end(self, item: pytest.Item, *, interrupted: bool = False) -> None:
        """The test is over: close its traces, keep or drop them, add JUnit properties."""
        evidence = item.stash.get(test_key, None)
        if evidence is None or evidence.finished:
            return
        evidence.finished = True
        self.open.pop(item.nodeid, None)
        outcome = "interrupted" if interrupted else outcome_of(evidence.reports)
        keep = (
            interrupted or self.settings.keep == "all" or outcome in ("failed", "error", "xpassed")
        )
        for recorder in evidence.recorders:
            try:
                recorder.close()
            except HarnessError as exc:
                self.problem(str(exc))
            if keep:
                evidence.traces.append(Artifact("trace", str(recorder.path), recorder.channel.name))
        extra = item.stash.get(artifacts_key, [])
        if keep:
            serial = self._serial_log(item, evidence)
            if serial is not None:
                extra = [*extra, serial]
        else:
            for recorder in evidence.recorders:
                _remove(recorder.path)
            if evidence.directory is not None:
                for artifact in extra:
                    if Path(artifact.path).resolve().parent == evidence.directory.resolve():
                        _remove(Path(artifact.path))
                extra = [a for a in extra if Path(a.path).exists()]
        evidence.files = list(extra)
        for artifact in [*evidence.traces, *extra]:
            junit_property(item, f"{artifact.kind}.{artifact.label}", artifact.path)

    def _serial_log(self, item: pytest.Item, evidence: TestEvidence) -> Artifact | None:
        """The serial log the ``serial_log`` fixture wrote for this test, copied beside
        the traces (its own default place is the test's tmp_path, which pytest prunes)."""
        try:
            from harness.pytest_plugin.devices import serial_log_key  # noqa: PLC0415
        except ImportError:
            return None
        kept = item.stash.get(serial_log_key, None)
        if kept is None or not Path(kept[2]).is_file():
            return None
        source = Path(kept[2])
        target = evidence.path(".serial.log")
        if target is None:
            return Artifact("serial-log", str(source), "serial")
        try:
            if source.resolve() != target.resolve():
                shutil.copyfile(source, target)
        except OSError as exc:
            self.problem(f"{item.nodeid}: serial log not kept: {exc}")
            return None
        return Artifact("serial-log", str(target), "serial")

    def record(self, item: pytest.Item, *, interrupted: bool = False) -> None:
        """Write the test's result to the store (after its teardown report exists)."""
        evidence = item.stash.get(test_key, None)
        if evidence is None or not self.records:
            return
        result = build_result(item, evidence, interrupted=interrupted)
        if self.started or self.outbox is not None:  # a worker: the controller waits
            self._write_result(result)
        else:
            self.pending.append(result)

    def _write_result(self, result: TestResult) -> None:
        if self.outbox is not None:
            self._send("result", asdict(result))
            return
        if self.store is None or self.run_id is None:
            return
        try:
            self.store.record_result(self.run_id, result)
        except HarnessError as exc:
            self.problem(str(exc))

    # -- the end ----------------------------------------------------------------------------

    def bench_closing(self) -> None:
        """The bench is about to close: read the identity once more (unless interrupted)."""
        bench = self.bench
        if bench is None or self.interrupted:
            return
        reading = read_identity(bench)
        self._record_identity("end", reading)
        self._compare_identity(reading)

    def _compare_identity(self, end: IdentityReading) -> None:
        if self.store is None:
            return
        start = []
        if self.run_id is not None:
            with contextlib.suppress(HarnessError):
                start = self.store.run(self.run_id).identity.get("start", [])
        found = changes(start, end.entries)
        if found:
            self.identity_change += [str(c) for c in found if str(c) not in self.identity_change]
            self._suite_property("dut_identity_changed", "; ".join(self.identity_change))

    def finish(self, exitstatus: int) -> None:
        """Close what is still open, mark the run, write the HTML report."""
        for item_id, evidence in list(self.open.items()):
            self.open.pop(item_id, None)
            for recorder in evidence.recorders:
                with contextlib.suppress(HarnessError):
                    recorder.close()
            if self.records and self.run_id is not None and not evidence.finished:
                evidence.finished = True
                evidence.traces = [
                    Artifact("trace", str(r.path), r.channel.name) for r in evidence.recorders
                ]
                self._write_result(_interrupted_result(evidence))
        self._release_sigterm()
        if not self.started or self.run_dir is None or self.outbox is not None:
            return  # a worker: the controller writes the rest
        interrupted = self.interrupted or exitstatus == pytest.ExitCode.INTERRUPTED
        if interrupted:
            status = "interrupted"
        elif exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            status = "passed"
        elif exitstatus == pytest.ExitCode.TESTS_FAILED:
            status = "failed"
        else:
            status = "error"
        _point_latest(self.run_dir)
        if self.store is None or self.run_id is None:
            return
        store, run_id = self.store, self.run_id
        try:
            self.report_path = self.run_dir / "report.html"
            run_files = [Artifact("report", str(self.report_path), "HTML report")]
            junit = self._keep_junit()
            if junit is not None:
                run_files.append(Artifact("junit", str(junit), "JUnit XML"))
            store.add_artifacts(run_id, run_files)
            store.finish_run(run_id, status, clock.wall(), int(exitstatus))
            from harness.report.html import write_report  # noqa: PLC0415 - Jinja2 when needed

            write_report(store.run(run_id), self.report_path)
        except HarnessError as exc:
            self.problem(str(exc))
            self.report_path = None
        finally:
            store.close()
            self.store = None

    def _keep_junit(self) -> Path | None:
        """A copy of the JUnit XML (pytest wrote it just before) in the run's folder, so
        the next run's does not replace the one this run's report links to."""
        xmlpath = getattr(self.config.option, "xmlpath", None)
        if not xmlpath or self.run_dir is None:
            return None
        source = Path(xmlpath)
        target = self.run_dir / "junit.xml"
        try:
            if self.config.stash.get(own_junit_key, False):
                shutil.move(source, target)
            else:
                shutil.copyfile(source, target)
        except OSError as exc:
            self.problem(f"JUnit XML not kept with the run: {exc}")
            return None
        return target


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _point_latest(run_dir: Path) -> None:
    """``RESULTS/latest`` -> the newest run's folder (where symlinks work)."""
    link = run_dir.parent.parent / "latest"
    with contextlib.suppress(OSError):
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(Path("runs") / run_dir.name, target_is_directory=True)


def new_run_id() -> str:
    """``20250102-101500-3fa2``: sortable by start time, unique across benches."""
    stamp = datetime.fromtimestamp(clock.wall(), tz=UTC).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{secrets.token_hex(2)}"


def describe_bench(bench: Bench) -> dict[str, Any]:
    """What the report says about the bench (plain data, kept in the store)."""
    config = bench.config
    return {
        "name": config.name,
        "description": config.description,
        "file": str(config.path),
        "dut": {"name": config.dut.name, "part_number": config.dut.part_number},
        "channels": [
            {
                "name": c.name,
                "interface": c.interface,
                "channel": c.channel,
                "bitrate": c.bitrate,
                "fd": c.fd,
                "data_bitrate": c.data_bitrate,
                "dbc": str(c.dbc) if c.dbc else None,
                "dut_node": c.dut_node,
            }
            for c in config.can.values()
        ],
        "simulation": [
            {"name": s.name, "file": str(s.file), "channel": s.channel, "faults": list(s.faults)}
            for s in config.simulation.values()
        ],
        "serial": [{"name": name, "kind": device.kind} for name, device in config.serial.items()],
        "power": config.power is not None,
        "diagnostics": config.diagnostics is not None,
    }


def outcome_of(reports: list[pytest.TestReport]) -> str:
    """One word for a test's reports: passed, failed (call), error (setup/teardown),
    skipped, xfailed, xpassed."""
    for report in reports:
        if report.failed:
            return "failed" if report.when == "call" else "error"
    for report in reports:
        if hasattr(report, "wasxfail"):
            return "xfailed" if report.skipped else "xpassed"
        if report.skipped:
            return "skipped"
    return "passed"


def build_result(item: pytest.Item, evidence: TestEvidence, *, interrupted: bool) -> TestResult:
    reports = evidence.reports
    outcome = "interrupted" if interrupted else outcome_of(reports)
    deciding = next((r for r in reports if r.failed), None) or next(
        (r for r in reports if r.skipped), None
    )
    message = ""
    longrepr = ""
    sections: list[tuple[str, str]] = []
    if deciding is not None:
        longrepr = deciding.longreprtext[-SECTION_CHARS:]
        message = _message(deciding)
        sections = [(name, text[-SECTION_CHARS:]) for name, text in deciding.sections]
    path, _, name = item.nodeid.partition("::")
    files = evidence.files if evidence.finished else item.stash.get(artifacts_key, [])
    artifacts = [*evidence.traces, *files]
    return TestResult(
        nodeid=item.nodeid,
        suite=path,
        name=name or item.name,
        outcome=outcome,
        duration=sum(r.duration for r in reports),
        started_at=evidence.started_at,
        message=message,
        longrepr=longrepr,
        sections=sections,
        plots=evidence.plots,
        requirements=_requirements(item),
        artifacts=[a for a in artifacts if Path(a.path).exists()],
        figures=item.stash.get(figures_key, {}).copy(),
    )


def _result_from(data: dict[str, Any]) -> TestResult:
    """A worker's result as it arrived (plain data) back into a :class:`TestResult`."""
    return TestResult(
        **{
            **data,
            "sections": [tuple(s) for s in data["sections"]],
            "requirements": [Requirement(**r) for r in data["requirements"]],
            "artifacts": [Artifact(**a) for a in data["artifacts"]],
        }
    )


def _plain(value: Any) -> Any:
    """What JSON cannot hold as it is (a numpy number in a plot's series)."""
    item = getattr(value, "item", None)
    return item() if callable(item) else str(value)


def _interrupted_result(evidence: TestEvidence) -> TestResult:
    path, _, name = evidence.nodeid.partition("::")
    return TestResult(
        nodeid=evidence.nodeid,
        suite=path,
        name=name or evidence.nodeid,
        outcome="interrupted",
        duration=clock.wall() - evidence.started_at,
        started_at=evidence.started_at,
        message="the run was interrupted during this test",
        requirements=list(evidence.requirements),
        artifacts=[a for a in evidence.traces if Path(a.path).exists()],
    )


def _requirements(item: pytest.Item) -> list[Requirement]:
    try:
        return requirements_of(item)
    except RequirementMarkerError:
        return []


def _message(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # a skip: (file, line, reason)
        return str(longrepr[2]).removeprefix("Skipped: ")
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None:
        return str(crash.message).splitlines()[0] if crash.message else ""
    text = report.longreprtext.strip().splitlines()
    return text[-1] if text else ""


# -- hooks --------------------------------------------------------------------------------


def _session(config: pytest.Config) -> EvidenceSession | None:
    session = config.stash.get(session_key, None)
    return session if session is not None and session.enabled else None


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> Generator[None, Any, Any]:
    """When the plugin's ``bench`` fixture opens the bench, the run starts; just before it
    closes, the DUT's identity is read again."""
    value = yield
    if fixturedef.argname != "bench":
        return value
    session = _session(request.config)
    if session is None or session.started:
        return value
    if request.config.stash.get(bench_key, None) is not value or not isinstance(value, Bench):
        return value  # a bench fixture of the user's own: not ours to record
    session.start(value)
    fixturedef.addfinalizer(session.bench_closing)
    return value


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    for requirement in _requirements(item):
        junit_property(item, "requirement", requirement.id)
        if requirement.clause:
            junit_property(item, "clause", f"{requirement.id}: {requirement.clause}")
    session = _session(item.config)
    if session is not None:
        session.current = item
        if session.started:
            session.begin(item)
        elif session.records:
            item.stash[test_key] = TestEvidence(item.nodeid, test_stem(item.nodeid), None)
    return (yield)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report (after the "harness traffic" section was added); the
    teardown report is a test's last, so its result goes to the store then."""
    report = yield
    forwarded = item.stash.get(forwarded_key, None)
    if forwarded:  # an xdist worker's JUnit properties, for the controller's writer
        report.harness_junit = list(forwarded)  # type: ignore[attr-defined]
        forwarded.clear()
    evidence = item.stash.get(test_key, None)
    session = _session(item.config)
    if evidence is not None and session is not None:
        _keep_report(item, call, report, evidence, session)
    if session is not None and session.outbox:  # an xdist worker's messages go with it
        report.harness = list(session.outbox)  # type: ignore[attr-defined]
        session.outbox.clear()
    return report


def _keep_report(
    item: pytest.Item,
    call: pytest.CallInfo[None],
    report: pytest.TestReport,
    evidence: TestEvidence,
    session: EvidenceSession,
) -> None:
    evidence.reports.append(report)
    excinfo = call.excinfo
    if (
        report.when == "call"
        and excinfo is not None
        and isinstance(excinfo.value, ExpectationError)
    ):
        ended = clock.now() - (clock.wall() - call.stop)  # the call's end, on the harness clock
        session.failed_expectation(item, excinfo.value, ended)
    if report.when == "teardown":
        session.record(item)


class XdistRelay:
    """The controller's side of a pytest-xdist run: hands each worker the run to join,
    and records what the workers send (on their reports, and in their ``workeroutput``)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        session = _session(self.config)
        if session is not None:
            node.workerinput[WORKER_KEY] = session.plan()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        xml = self.config.stash.get(xml_key, None)
        for name, value in getattr(report, "harness_junit", ()):
            if xml is not None:
                xml.add_global_property(name, value)
        session = _session(self.config)
        messages = getattr(report, "harness", None)
        if session is not None and messages:
            session.absorb(messages)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object | None) -> None:
        session = _session(self.config)
        output = getattr(node, "workeroutput", None) or {}
        if session is not None:
            session.absorb(output.get(WORKER_KEY, []))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_teardown(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, None, None]:
    """After the fixtures' teardown (the test's last frames), before its report."""
    try:
        return (yield)
    finally:
        session = _session(item.config)
        if session is not None:
            session.end(item)


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> Generator[None, None, None]:
    """Around pytest's own (which tears the fixtures down, the bench last): an interrupted
    run skips the closing identity reading; afterwards the run is finished and reported
    (before the terminal summary, which names the report). Inside xdist's wrapper, so a
    worker's last messages are in its ``workeroutput`` before xdist sends it."""
    evidence = _session(session.config)
    if evidence is not None and exitstatus == pytest.ExitCode.INTERRUPTED:
        evidence.interrupted = True
    try:
        return (yield)
    finally:
        if evidence is not None:
            evidence.finish(int(exitstatus))


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    session = _session(config)
    if session is None or not session.started or session.run_dir is None:
        return
    write = terminalreporter.write_line
    terminalreporter.section("harness evidence", sep="-")
    write(f"run {session.run_id}: {_shown(session.run_dir)}")
    if session.report_path is not None:
        write(f"report: {_shown(session.report_path)}")
    if session.settings.store is not None and session.report_path is not None:
        write(f"results store: {_shown_store(session.settings.store)}")
    for change in session.identity_change:
        write(f"DUT identity changed during the run: {change}", red=True, bold=True)
    for problem in session.problems:
        write(f"warning: {problem}", yellow=True)


def _shown(path: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(path.relative_to(Path.cwd()))
    return str(path)


def _shown_store(target: str) -> str:
    from harness.report.store import is_url, redact  # noqa: PLC0415

    return redact(target) if is_url(target) else _shown(Path(target))
