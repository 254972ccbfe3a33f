"""The results store: runs, the DUTs they tested, tests, results and artifacts, in SQL.

A SQLite file by default (no server; ``results/harness.sqlite``), PostgreSQL when
given a ``postgresql://`` URL (a lab with many benches writing to one place; needs
``psycopg``, the ``postgres`` extra). Every value goes in as a bound parameter,
never formatted into the SQL text. Results are written and committed as each test
ends, so a run that crashes keeps what finished; its status stays ``running``
(listed as incomplete) and an interrupted run is marked ``interrupted``.

>>> with ResultsStore.open("results/harness.sqlite") as store:      # doctest: +SKIP
...     [run.id for run in store.dut_history("BCM-DEMO-0001")]
['20250102-101500-3fa2', ...]
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.closing import Closing
from harness.exceptions import ResultsStoreError
from harness.report.identity import IdentityReading, Value, changes
from harness.report.verdicts import RequirementVerdict, by_requirement, verdict_of

SCHEMA_VERSION = 3
"""1: the first; 2: ``figures`` (what tests measured); 3: ``requirements.verdict`` (what
each test says of its requirement: passed, failed, not tested, not verified,
interrupted). An older store is brought up to date when opened: missing tables are
created, the verdict column added and filled from the outcomes it holds."""
DEFAULT_STORE = "harness.sqlite"
"""The SQLite file's name inside the results directory."""
STORE_ENV = "HARNESS_STORE"
"""Environment variable naming the store (a file or a ``postgresql://`` URL)."""
POSTGRES_SCHEMES = ("postgresql", "postgres")

FINISHED = ("passed", "failed", "error")
"""Run statuses of a run that ended normally; ``running`` (it crashed or goes on) and
``interrupted`` are incomplete."""

_SERIAL = "{serial}"
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS harness_schema (version INTEGER NOT NULL)",
    """CREATE TABLE IF NOT EXISTS duts (
        id {serial} PRIMARY KEY,
        part_number TEXT NOT NULL,
        serial_number TEXT NOT NULL,
        name TEXT NOT NULL,
        first_seen DOUBLE PRECISION NOT NULL,
        UNIQUE (part_number, serial_number))""",
    """CREATE TABLE IF NOT EXISTS runs (
        id TEXT PRIMARY KEY,
        started_at DOUBLE PRECISION NOT NULL,
        finished_at DOUBLE PRECISION,
        status TEXT NOT NULL,
        exit_status INTEGER,
        dut_id BIGINT REFERENCES duts(id),
        part_number TEXT NOT NULL DEFAULT '',
        serial_number TEXT NOT NULL DEFAULT '',
        software_version TEXT NOT NULL DEFAULT '',
        identity_changed INTEGER NOT NULL DEFAULT 0,
        bench_name TEXT NOT NULL,
        bench TEXT NOT NULL,
        environment TEXT NOT NULL,
        results_dir TEXT NOT NULL,
        command TEXT NOT NULL,
        host TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS identity (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        phase TEXT NOT NULL,
        source TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        read_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (run_id, phase, source, key))""",
    """CREATE TABLE IF NOT EXISTS identity_errors (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        phase TEXT NOT NULL,
        source TEXT NOT NULL,
        error TEXT NOT NULL,
        PRIMARY KEY (run_id, phase, source))""",
    """CREATE TABLE IF NOT EXISTS tests (
        id {serial} PRIMARY KEY,
        nodeid TEXT NOT NULL UNIQUE,
        suite TEXT NOT NULL,
        name TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS results (
        id {serial} PRIMARY KEY,
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        test_id BIGINT NOT NULL REFERENCES tests(id),
        outcome TEXT NOT NULL,
        duration DOUBLE PRECISION NOT NULL,
        started_at DOUBLE PRECISION NOT NULL,
        message TEXT NOT NULL,
        longrepr TEXT NOT NULL,
        sections TEXT NOT NULL,
        plots TEXT NOT NULL,
        UNIQUE (run_id, test_id))""",
    """CREATE TABLE IF NOT EXISTS requirements (
        result_id BIGINT NOT NULL REFERENCES results(id) ON DELETE CASCADE,
        requirement TEXT NOT NULL,
        clause TEXT NOT NULL,
        verdict TEXT NOT NULL,
        PRIMARY KEY (result_id, requirement))""",
    """CREATE TABLE IF NOT EXISTS artifacts (
        id {serial} PRIMARY KEY,
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        result_id BIGINT REFERENCES results(id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        label TEXT NOT NULL,
        path TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS figures (
        result_id BIGINT NOT NULL REFERENCES results(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        value DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (result_id, name))""",
    "CREATE INDEX IF NOT EXISTS identity_by_value ON identity (key, value)",
    "CREATE INDEX IF NOT EXISTS results_by_run ON results (run_id)",
    "CREATE INDEX IF NOT EXISTS runs_by_start ON runs (started_at)",
)
_SERIALS = {
    "sqlite": "INTEGER",
    "postgresql": "BIGINT GENERATED BY DEFAULT AS IDENTITY",
}


@dataclass(frozen=True)
class Artifact:
    """A file that belongs to a test (or to the run): a trace, a serial log, a report."""

    kind: str
    """``trace``, ``serial-log``, ``report``, or any word a layer chooses."""
    path: str
    label: str = ""
    """What it is, e.g. the channel name."""


@dataclass(frozen=True)
class Requirement:
    """A requirement a test verifies, and the clause of the standard it checks."""

    id: str
    clause: str = ""

    def __str__(self) -> str:
        return f"{self.id} ({self.clause})" if self.clause else self.id


@dataclass
class RunInfo:
    """What is known about a run when it starts."""

    id: str
    started_at: float
    bench_name: str
    bench: Mapping[str, Any]
    """A description of the bench (name, description, file, channels...), as JSON."""
    environment: Mapping[str, Any]
    """Versions of the harness, Python and libraries, and the platform."""
    results_dir: str
    command: str
    host: str


@dataclass
class TestResult:
    """One test's outcome in one run."""

    __test__ = False  # a result, not a test class to collect

    nodeid: str
    suite: str
    name: str
    outcome: str
    """``passed``, ``failed``, ``error``, ``skipped``, ``xfailed``, ``xpassed``,
    ``interrupted``."""
    duration: float
    started_at: float
    message: str = ""
    longrepr: str = ""
    sections: list[tuple[str, str]] = field(default_factory=list)
    """Report sections worth keeping (``harness traffic``...)."""
    plots: list[dict[str, Any]] = field(default_factory=list)
    """Signal series of failed expectations (see :mod:`harness.report.plots`)."""
    requirements: list[Requirement] = field(default_factory=list)
    artifacts: list[Artifact] = field(default_factory=list)
    figures: dict[str, float] = field(default_factory=dict)
    """What the test measured (``record_figure``): name -> value."""
    id: int | None = None


@dataclass
class RunSummary:
    """A run as ``harness results list`` shows it."""

    id: str
    started_at: float
    finished_at: float | None
    status: str
    bench_name: str
    part_number: str
    serial_number: str
    software_version: str
    identity_changed: bool
    counts: dict[str, int]

    @property
    def complete(self) -> bool:
        return self.status in FINISHED

    @property
    def state(self) -> str:
        """The status, with a run that never finished shown as incomplete."""
        if self.status == "running":
            return "incomplete"
        return self.status


@dataclass
class RunRecord:
    """Everything the store holds about one run (what a report is built from)."""

    summary: RunSummary
    exit_status: int | None
    bench: dict[str, Any]
    environment: dict[str, Any]
    results_dir: str
    command: str
    host: str
    identity: dict[str, list[Value]]
    """Phase (``start``, ``end``) -> values read."""
    identity_errors: dict[str, dict[str, str]]
    """Phase -> provider -> error."""
    results: list[TestResult]
    artifacts: list[Artifact]
    """Artifacts of the run itself (the report, JUnit XML)."""
    requirements: list[RequirementVerdict] = field(default_factory=list)
    """Every requirement its tests name, with its verdict, by ID."""


def redact(target: str) -> str:
    """A store URL fit for messages: the password replaced by ``***``."""
    parts = urllib.parse.urlsplit(target)
    if parts.password is None:
        return target
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = urllib.parse.quote(parts.username or "", safe="")
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def is_url(target: str | Path) -> bool:
    return isinstance(target, str) and urllib.parse.urlsplit(target).scheme in POSTGRES_SCHEMES


class ResultsStore(Closing):
    """One connection to a results store. Not thread-safe: use it from one thread."""

    def __init__(self, connection: Any, dialect: str, where: str) -> None:
        self._db = connection
        self.dialect = dialect
        self.where = where
        """The file or (redacted) URL, for messages."""

    # -- opening ------------------------------------------------------------------

    @classmethod
    def open(cls, target: str | Path, *, create: bool = True) -> ResultsStore:
        """Open (and with ``create``, make) the store at a path or ``postgresql://`` URL."""
        if is_url(target):
            store = cls._open_postgres(str(target))
        else:
            store = cls._open_sqlite(Path(target), create=create)
        try:
            store._ensure_schema(create=create)
        except BaseException:
            store.close()
            raise
        return store

    @classmethod
    def _open_sqlite(cls, path: Path, *, create: bool) -> ResultsStore:
        if not create and not path.is_file():
            raise ResultsStoreError(f"{path}: no results store here (no run has written one)")
        try:
            if create:
                path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(path, timeout=30)
            connection.execute("PRAGMA foreign_keys = ON")
        except (sqlite3.Error, OSError) as exc:
            raise ResultsStoreError(f"{path}: cannot open the results store: {exc}") from exc
        return cls(connection, "sqlite", str(path))

    @classmethod
    def _open_postgres(cls, url: str) -> ResultsStore:
        shown = redact(url)
        try:
            import psycopg  # noqa: PLC0415 - only labs with a server need it
        except ImportError as exc:
            raise ResultsStoreError(
                f"{shown}: a PostgreSQL store needs psycopg: pip install 'ecu-harness[postgres]'"
            ) from exc
        try:
            connection = psycopg.connect(url, connect_timeout=10)
        except psycopg.Error as exc:
            raise ResultsStoreError(f"{shown}: cannot connect: {_one_line(exc)}") from exc
        return cls(connection, "postgresql", shown)

    def _ensure_schema(self, *, create: bool) -> None:
        with self._write("prepare the schema"):
            if self.dialect == "postgresql":
                # Two benches starting at once must not both create the tables.
                self._execute("SELECT pg_advisory_xact_lock(?)", (0x4841524E,))
            if create:
                self._create_tables()
            rows = self._query("SELECT version FROM harness_schema")
            if not rows:
                if not create:
                    raise ResultsStoreError(f"{self.where}: not a results store (no schema)")
                self._execute("INSERT INTO harness_schema (version) VALUES (?)", (SCHEMA_VERSION,))
            elif rows[0][0] > SCHEMA_VERSION:
                raise ResultsStoreError(
                    f"{self.where}: written by a newer harness (schema {rows[0][0]}, "
                    f"this one knows {SCHEMA_VERSION}); upgrade ecu-harness"
                )
            elif rows[0][0] < SCHEMA_VERSION:
                self._migrate(rows[0][0])

    def _migrate(self, version: int) -> None:
        """Bring a store of an older schema up to date (see SCHEMA_VERSION)."""
        columns = self._execute("SELECT * FROM requirements WHERE 1 = 0").description
        if version < 3 and "verdict" not in {column[0] for column in columns}:
            self._execute("ALTER TABLE requirements ADD COLUMN verdict TEXT NOT NULL DEFAULT ''")
            for result_id, outcome, message in self._query(
                "SELECT id, outcome, message FROM results WHERE id IN "
                "(SELECT result_id FROM requirements)"
            ):
                self._execute(
                    "UPDATE requirements SET verdict = ? WHERE result_id = ?",
                    (verdict_of(outcome, message), result_id),
                )
        self._create_tables()
        self._execute("UPDATE harness_schema SET version = ?", (SCHEMA_VERSION,))

    def _create_tables(self) -> None:
        serial = _SERIALS[self.dialect]
        for statement in _SCHEMA:
            self._execute(statement.replace(_SERIAL, serial))

    # -- low level ------------------------------------------------------------------

    def _sql(self, statement: str) -> str:
        if self.dialect == "postgresql":
            if "%" in statement:
                raise ValueError("SQL text must not contain %: pass values as parameters")
            return statement.replace("?", "%s")
        return statement

    def _execute(self, statement: str, params: Sequence[Any] = ()) -> Any:
        cursor = self._db.cursor()
        cursor.execute(self._sql(statement), tuple(params))
        return cursor

    def _query(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return list(self._execute(statement, params).fetchall())

    @contextmanager
    def _write(self, what: str) -> Iterator[None]:
        """One transaction: committed at the end, rolled back on error (wrapped)."""
        try:
            yield
            self._db.commit()
        except ResultsStoreError:
            self._rollback()
            raise
        except Exception as exc:
            self._rollback()
            if _is_db_error(exc):
                raise ResultsStoreError(f"{self.where}: cannot {what}: {_one_line(exc)}") from exc
            raise

    @contextmanager
    def _read(self, what: str) -> Iterator[None]:
        try:
            yield
        except ResultsStoreError:
            raise
        except Exception as exc:
            if _is_db_error(exc):
                self._rollback()
                raise ResultsStoreError(f"{self.where}: cannot {what}: {_one_line(exc)}") from exc
            raise
        if self.dialect == "postgresql":
            self._db.rollback()  # end the read transaction; do not hold snapshots open

    def _rollback(self) -> None:
        with contextlib.suppress(Exception):  # the original error is the one to report
            self._db.rollback()

    def _insert_id(self, statement: str, params: Sequence[Any]) -> int:
        row = self._execute(statement + " RETURNING id", params).fetchone()
        return int(row[0])

    # -- writing a run ------------------------------------------------------------

    def start_run(self, run: RunInfo) -> None:
        with self._write(f"record run {run.id}"):
            self._execute(
                "INSERT INTO runs (id, started_at, status, bench_name, bench, environment, "
                "results_dir, command, host) VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?)",
                (
                    run.id,
                    run.started_at,
                    run.bench_name,
                    json.dumps(run.bench, default=str),
                    json.dumps(run.environment, default=str),
                    run.results_dir,
                    run.command,
                    run.host,
                ),
            )

    def record_identity(self, run_id: str, phase: str, reading: IdentityReading) -> bool:
        """Store a reading; the start reading also names the run's DUT, the end reading
        is compared with it. Returns whether the identity changed (end only)."""
        changed = False
        with self._write(f"record the {phase} identity of run {run_id}"):
            for entry in reading.entries:
                self._execute(
                    "INSERT INTO identity (run_id, phase, source, key, value, read_at) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, phase, source, key) "
                    "DO UPDATE SET value = excluded.value, read_at = excluded.read_at",
                    (run_id, phase, entry.source, entry.key, entry.value, reading.read_at),
                )
            for source, error in reading.errors.items():
                self._execute(
                    "INSERT INTO identity_errors (run_id, phase, source, error) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (run_id, phase, source) "
                    "DO UPDATE SET error = excluded.error",
                    (run_id, phase, source, error),
                )
            if phase == "start":
                self._name_dut(run_id, reading)
            else:
                start = self._identity_values(run_id, "start")
                changed = bool(changes(start, reading.entries))
                if changed:
                    self._execute("UPDATE runs SET identity_changed = 1 WHERE id = ?", (run_id,))
        return changed

    def _name_dut(self, run_id: str, reading: IdentityReading) -> None:
        values = reading.values
        part = values.get("part_number", "")
        serial = values.get("serial_number", "")
        software = values.get("software_version") or values.get("supplier_software_version", "")
        dut_id = None
        if part or serial:
            self._execute(
                "INSERT INTO duts (part_number, serial_number, name, first_seen) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (part_number, serial_number) DO NOTHING",
                (part, serial, values.get("name", ""), reading.read_at),
            )
            rows = self._query(
                "SELECT id FROM duts WHERE part_number = ? AND serial_number = ?", (part, serial)
            )
            dut_id = rows[0][0]
        self._execute(
            "UPDATE runs SET dut_id = ?, part_number = ?, serial_number = ?, "
            "software_version = ? WHERE id = ?",
            (dut_id, part, serial, software, run_id),
        )

    def record_result(self, run_id: str, result: TestResult) -> int:
        """Store one test's result (replacing an earlier one of the same test in this run)
        with its requirements and artifacts, and commit. Returns the result's id."""
        with self._write(f"record {result.nodeid} in run {run_id}"):
            self._execute(
                "INSERT INTO tests (nodeid, suite, name) VALUES (?, ?, ?) "
                "ON CONFLICT (nodeid) DO NOTHING",
                (result.nodeid, result.suite, result.name),
            )
            test_id = self._query("SELECT id FROM tests WHERE nodeid = ?", (result.nodeid,))[0][0]
            self._execute("DELETE FROM results WHERE run_id = ? AND test_id = ?", (run_id, test_id))
            result_id = self._insert_id(
                "INSERT INTO results (run_id, test_id, outcome, duration, started_at, message, "
                "longrepr, sections, plots) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    test_id,
                    result.outcome,
                    result.duration,
                    result.started_at,
                    result.message,
                    result.longrepr,
                    json.dumps(result.sections),
                    json.dumps(result.plots, default=str),
                ),
            )
            verdict = verdict_of(result.outcome, result.message)
            for requirement in {r.id: r for r in result.requirements}.values():
                self._execute(
                    "INSERT INTO requirements (result_id, requirement, clause, verdict) "
                    "VALUES (?, ?, ?, ?)",
                    (result_id, requirement.id, requirement.clause, verdict),
                )
            for name, value in result.figures.items():
                self._execute(
                    "INSERT INTO figures (result_id, name, value) VALUES (?, ?, ?)",
                    (result_id, name, value),
                )
            self._add_artifacts(run_id, result_id, result.artifacts)
        result.id = result_id
        return int(result_id)

    def add_artifacts(
        self, run_id: str, artifacts: Iterable[Artifact], result_id: int | None = None
    ) -> None:
        with self._write(f"record artifacts of run {run_id}"):
            self._add_artifacts(run_id, result_id, artifacts)

    def _add_artifacts(
        self, run_id: str, result_id: int | None, artifacts: Iterable[Artifact]
    ) -> None:
        for artifact in artifacts:
            self._execute(
                "INSERT INTO artifacts (run_id, result_id, kind, label, path) "
                "VALUES (?, ?, ?, ?, ?)",
                (run_id, result_id, artifact.kind, artifact.label, artifact.path),
            )

    def finish_run(
        self, run_id: str, status: str, finished_at: float, exit_status: int | None
    ) -> None:
        with self._write(f"finish run {run_id}"):
            self._execute(
                "UPDATE runs SET status = ?, finished_at = ?, exit_status = ? WHERE id = ?",
                (status, finished_at, exit_status, run_id),
            )

    # -- reading ------------------------------------------------------------------

    _SUMMARY = (
        "SELECT r.id, r.started_at, r.finished_at, r.status, r.bench_name, r.part_number, "
        "r.serial_number, r.software_version, r.identity_changed FROM runs r"
    )

    def runs(self, limit: int | None = 20) -> list[RunSummary]:
        """The newest runs first."""
        with self._read("list runs"):
            sql = self._SUMMARY + " ORDER BY r.started_at DESC, r.id DESC"
            params: tuple[Any, ...] = ()
            if limit is not None:
                sql += " LIMIT ?"
                params = (limit,)
            return self._summaries(self._query(sql, params))

    def dut_history(self, part_number: str) -> list[RunSummary]:
        """Every run whose DUT said (or whose bench file declared) this part number,
        oldest first: one part across firmware versions and serial numbers."""
        with self._read(f"list the runs of part {part_number!r}"):
            rows = self._query(
                self._SUMMARY + " WHERE r.part_number = ? OR r.id IN (SELECT run_id FROM "
                "identity WHERE key = 'part_number' AND value = ?) "
                "ORDER BY r.started_at, r.id",
                (part_number, part_number),
            )
            return self._summaries(rows)

    def part_numbers(self) -> list[str]:
        with self._read("list part numbers"):
            rows = self._query(
                "SELECT DISTINCT value FROM identity WHERE key = 'part_number' ORDER BY value"
            )
        return [row[0] for row in rows]

    def _summaries(self, rows: list[tuple[Any, ...]]) -> list[RunSummary]:
        counts: dict[str, dict[str, int]] = {row[0]: {} for row in rows}
        if rows:
            ids = [row[0] for row in rows]
            marks = ", ".join("?" for _ in ids)  # only placeholders are formatted in
            for run_id, outcome, count in self._query(
                f"SELECT run_id, outcome, COUNT(*) FROM results WHERE run_id IN ({marks}) "
                "GROUP BY run_id, outcome",
                ids,
            ):
                counts[run_id][outcome] = int(count)
        return [
            RunSummary(
                id=row[0],
                started_at=row[1],
                finished_at=row[2],
                status=row[3],
                bench_name=row[4],
                part_number=row[5],
                serial_number=row[6],
                software_version=row[7],
                identity_changed=bool(row[8]),
                counts=counts[row[0]],
            )
            for row in rows
        ]

    def resolve(self, ref: str) -> str:
        """A run id from ``latest``, a full id or a unique prefix of one."""
        with self._read(f"find run {ref!r}"):
            if ref == "latest":
                rows = self._query("SELECT id FROM runs ORDER BY started_at DESC, id DESC LIMIT 1")
                if not rows:
                    raise ResultsStoreError(f"{self.where}: no runs yet")
                return str(rows[0][0])
            rows = self._query("SELECT id FROM runs WHERE id = ?", (ref,))
            if rows:
                return str(rows[0][0])
            candidates = [
                str(row[0])
                for row in self._query("SELECT id FROM runs ORDER BY started_at DESC")
                if str(row[0]).startswith(ref)
            ]
        if len(candidates) == 1:
            return candidates[0]
        if not candidates:
            raise ResultsStoreError(f"{self.where}: no run {ref!r} (see: harness results list)")
        shown = ", ".join(candidates[:5])
        raise ResultsStoreError(f"{self.where}: {ref!r} could be any of {shown}; give more of it")

    def run(self, ref: str) -> RunRecord:
        """Everything about one run (``ref`` as for :meth:`resolve`)."""
        run_id = self.resolve(ref)
        with self._read(f"read run {run_id}"):
            row = self._query(
                "SELECT exit_status, bench, environment, results_dir, command, host "
                "FROM runs WHERE id = ?",
                (run_id,),
            )[0]
            summary = self._summaries(self._query(self._SUMMARY + " WHERE r.id = ?", (run_id,)))[0]
            identity: dict[str, list[Value]] = {}
            for phase in ("start", "end"):
                identity[phase] = self._identity_values(run_id, phase)
            errors: dict[str, dict[str, str]] = {}
            for phase, source, error in self._query(
                "SELECT phase, source, error FROM identity_errors WHERE run_id = ? "
                "ORDER BY phase, source",
                (run_id,),
            ):
                errors.setdefault(phase, {})[source] = error
            results = self._results(run_id)
            requirements = self._requirement_verdicts(run_id)
            run_artifacts = [
                Artifact(kind, path, label)
                for kind, label, path in self._query(
                    "SELECT kind, label, path FROM artifacts WHERE run_id = ? "
                    "AND result_id IS NULL ORDER BY id",
                    (run_id,),
                )
            ]
        return RunRecord(
            summary=summary,
            exit_status=row[0],
            bench=json.loads(row[1]),
            environment=json.loads(row[2]),
            results_dir=row[3],
            command=row[4],
            host=row[5],
            identity=identity,
            identity_errors=errors,
            results=results,
            artifacts=run_artifacts,
            requirements=requirements,
        )

    def requirement_verdicts(self, ref: str) -> list[RequirementVerdict]:
        """Every requirement the tests of one run name, with its verdict, by ID."""
        run_id = self.resolve(ref)
        with self._read(f"read the requirements of run {run_id}"):
            return self._requirement_verdicts(run_id)

    def _requirement_verdicts(self, run_id: str) -> list[RequirementVerdict]:
        return by_requirement(
            (str(ident), str(clause), str(nodeid), str(verdict))
            for ident, clause, nodeid, verdict in self._query(
                "SELECT q.requirement, q.clause, t.nodeid, q.verdict FROM requirements q "
                "JOIN results x ON x.id = q.result_id JOIN tests t ON t.id = x.test_id "
                "WHERE x.run_id = ? ORDER BY x.started_at, x.id",
                (run_id,),
            )
        )

    def _identity_values(self, run_id: str, phase: str) -> list[Value]:
        return [
            Value(source, key, value)
            for source, key, value in self._query(
                "SELECT source, key, value FROM identity WHERE run_id = ? AND phase = ? "
                "ORDER BY read_at, source, key",
                (run_id, phase),
            )
        ]

    def _results(self, run_id: str) -> list[TestResult]:
        results: dict[int, TestResult] = {}
        for row in self._query(
            "SELECT x.id, t.nodeid, t.suite, t.name, x.outcome, x.duration, x.started_at, "
            "x.message, x.longrepr, x.sections, x.plots FROM results x "
            "JOIN tests t ON t.id = x.test_id WHERE x.run_id = ? ORDER BY x.started_at, x.id",
            (run_id,),
        ):
            results[row[0]] = TestResult(
                id=row[0],
                nodeid=row[1],
                suite=row[2],
                name=row[3],
                outcome=row[4],
                duration=row[5],
                started_at=row[6],
                message=row[7],
                longrepr=row[8],
                sections=[(str(a), str(b)) for a, b in json.loads(row[9])],
                plots=json.loads(row[10]),
            )
        for result_id, requirement, clause in self._query(
            "SELECT q.result_id, q.requirement, q.clause FROM requirements q "
            "JOIN results x ON x.id = q.result_id WHERE x.run_id = ? ORDER BY q.requirement",
            (run_id,),
        ):
            results[result_id].requirements.append(Requirement(requirement, clause))
        for result_id, kind, label, path in self._query(
            "SELECT result_id, kind, label, path FROM artifacts WHERE run_id = ? "
            "AND result_id IS NOT NULL ORDER BY id",
            (run_id,),
        ):
            if result_id in results:
                results[result_id].artifacts.append(Artifact(kind, path, label))
        for result_id, name, value in self._query(
            "SELECT f.result_id, f.name, f.value FROM figures f "
            "JOIN results x ON x.id = f.result_id WHERE x.run_id = ? ORDER BY f.name",
            (run_id,),
        ):
            results[result_id].figures[name] = float(value)
        return list(results.values())

    # -- lifetime -------------------------------------------------------------------

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a broken connection may fail too
            self._db.close()

    def __repr__(self) -> str:
        return f"<ResultsStore {self.dialect} {self.where}>"


def _is_db_error(exc: BaseException) -> bool:
    if isinstance(exc, sqlite3.Error):
        return True
    module = type(exc).__module__
    return module.startswith("psycopg")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
