"""Many recorded traces at once: one task per file on Dask.

A fleet's recordings are many files, each one recording. They are decoded or
analysed file by file (the columnar engine keeps each file's memory flat), the
files in parallel on a Dask cluster: a local one by default (worker processes,
one thread each, as many as cores and files allow), an existing one given its
scheduler address. Workers of an existing cluster must see the same paths (a
shared file system) and have the harness installed.

Dask rather than a process pool of our own: the same code then runs on a
laptop and on a cluster, with Dask's retries of lost workers and its dashboard.

A file that cannot be read does not stop the others; its error comes back in
its :class:`Outcome`, after whatever the file held before the damage was used.

>>> task = parquet_task(expand_traces(["drives/"]), [db], "out/")  # doctest: +SKIP
>>> outcomes = run_per_file(task, expand_traces(["drives/"]))        # doctest: +SKIP
"""

from __future__ import annotations

import functools
import glob
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from harness.exceptions import HarnessError, TraceError
from harness.trace.reader import supported_formats, trace_format

if TYPE_CHECKING:
    import distributed

    from harness.trace.columnar.engine import Databases, DecodeStats, ParquetResult

T = TypeVar("T")

_GLOB_CHARACTERS = frozenset("*?[")


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """What one file's task gave: its result, or the error that stopped it."""

    path: Path
    result: T | None = None
    error: str | None = None


def expand_traces(sources: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """The trace files that files, folders (searched recursively) and glob patterns name.

    In the order given, each folder's and pattern's files sorted, each file once.
    A folder or pattern that names no trace file is a :class:`TraceError`: a
    fleet run over nothing is a mistake, not an empty success. Files named
    directly are checked when they are read.
    """
    found: dict[Path, None] = {}
    for source in sources:
        text = os.fspath(source)
        if _GLOB_CHARACTERS & set(text):
            matches = [Path(p) for p in sorted(glob.glob(text, recursive=True))]
            files = [p for p in matches if p.is_file() and _is_trace(p)]
            where = f"{text}: no trace file matches"
        elif Path(text).is_dir():
            files = sorted(p for p in Path(text).rglob("*") if p.is_file() and _is_trace(p))
            where = f"{text}: the folder holds no trace file"
        else:
            files = [Path(text)]
            where = ""
        if not files:
            raise TraceError(f"{where} (supported: {supported_formats()})")
        found.update(dict.fromkeys(files))
    return list(found)


def names_several(sources: Sequence[str | os.PathLike[str]]) -> bool:
    """Whether ``sources`` are a fleet (several, or a folder or glob) rather than one file."""
    return len(sources) > 1 or any(
        _GLOB_CHARACTERS & set(os.fspath(s)) or Path(s).is_dir() for s in sources
    )


def _is_trace(path: Path) -> bool:
    try:
        trace_format(path)
    except TraceError:
        return False
    return True


def part_names(paths: Sequence[Path]) -> dict[Path, str]:
    """A name per file for its part of a dataset, unique among ``paths``: its path below
    their common folder (``day1/drive3.blf`` -> ``day1_drive3.blf``)."""
    resolved = [p.resolve() for p in paths]
    root = Path(os.path.commonpath([p.parent for p in resolved]))
    names = ["_".join(p.relative_to(root).parts) for p in resolved]
    if len(set(names)) < len(names):  # a_b/c and a/b_c: number them instead
        names = [f"{index:05d}_{name}" for index, name in enumerate(names)]
    return dict(zip(paths, names, strict=True))


def parquet_task(
    paths: Sequence[Path], databases: Databases, directory: Path, **options: Any
) -> Callable[[Path], ParquetResult]:
    """The task that writes one file's part of one Parquet dataset,
    ``directory/<message>/<part name>.parquet``; ``options`` as :func:`write_parquet`."""
    return functools.partial(
        _write_part, parts=part_names(paths), databases=databases, directory=directory, **options
    )


def _write_part(path: Path, *, parts: dict[Path, str], **options: Any) -> ParquetResult:
    from harness.trace.columnar.engine import write_parquet  # noqa: PLC0415 - on the worker

    return write_parquet(path, part=parts[path], **options)


DECODE_COUNTS = (
    "frames",
    "decoded",
    "unknown",
    "undecodable",
    "errors",
    "remote",
    "padded",
    "reassembled",
)
"""The :class:`~harness.trace.columnar.engine.DecodeStats` fields that add up."""


def total_stats(every: Iterable[DecodeStats]) -> DecodeStats:
    """The counts of several decodes added up."""
    from harness.trace.columnar.engine import DecodeStats  # noqa: PLC0415

    total = DecodeStats()
    for stats in every:
        for name in DECODE_COUNTS:
            setattr(total, name, getattr(total, name) + getattr(stats, name))
        total.by_message.update(stats.by_message)
        total.undecodable_by_message.update(stats.undecodable_by_message)
    return total


def run_per_file(
    task: Callable[[Path], T],
    paths: Sequence[Path],
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: Callable[[int, int, Outcome[T]], None] | None = None,
) -> list[Outcome[T]]:
    """``task(path)`` for every path on Dask, outcomes in the order of ``paths``.

    ``task`` and what it returns travel between processes: a module-level
    function or a :func:`functools.partial` of one. A :class:`HarnessError` it
    raises becomes that file's ``error``; any other exception is a bug and
    propagates. ``progress(done, total, outcome)`` is called as each file ends.
    """
    from distributed import as_completed  # noqa: PLC0415 - Dask only when a fleet runs

    total = len(paths)
    outcomes: dict[Path, Outcome[T]] = {}
    with _client(scheduler, workers=workers or min(total, os.cpu_count() or 1)) as client:
        futures = [
            client.submit(_guarded, task, path, key=f"harness-{index}-{path.name}", pure=False)
            for index, path in enumerate(paths)
        ]
        for done, future in enumerate(as_completed(futures), start=1):  # type: ignore[no-untyped-call]
            outcome: Outcome[T] = future.result()
            outcomes[outcome.path] = outcome
            if progress is not None:
                progress(done, total, outcome)
    return [outcomes[path] for path in paths]


def _guarded(task: Callable[[Path], T], path: Path) -> Outcome[T]:
    try:
        return Outcome(path, result=task(path))
    except HarnessError as exc:
        return Outcome(path, error=str(exc))


@contextmanager
def _client(scheduler: str | None, *, workers: int) -> Iterator[distributed.Client]:
    """A client of the cluster at ``scheduler``, else of a local cluster closed afterwards."""
    import logging  # noqa: PLC0415

    from distributed import Client, LocalCluster  # noqa: PLC0415

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="10s")  # type: ignore[no-untyped-call]
        except OSError as exc:
            raise HarnessError(f"no Dask scheduler at {scheduler}: {exc}") from None
        with client:
            yield client
        return
    with (
        LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=max(1, workers),
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # its HTTP server on a free port, never a clash
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,  # type: ignore[no-untyped-call]
    ):
        yield client
