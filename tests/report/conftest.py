"""Results stores for the report tests: a SQLite file, and a real PostgreSQL server
started for the session in a throwaway cluster (Debian's ``postgresql`` binaries,
installed by ``make sysdeps``), on a free loopback port, as a non-root user."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_ROOT = Path("/usr/lib/postgresql")
PG_USER = "postgres"
"""The system user the server runs as when the tests run as root (initdb refuses root)."""


def _pg_bin() -> Path | None:
    versions = sorted(
        (p for p in PG_ROOT.glob("*/bin") if (p / "initdb").is_file()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    return versions[-1] if versions else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """``postgresql://harness@127.0.0.1:PORT`` of a server that lives for the session."""
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip(
            f"PostgreSQL server binaries not found under {PG_ROOT} (Debian package "
            "'postgresql'; `make sysdeps` installs it where apt-get may run)"
        )
    pytest.importorskip("psycopg", reason="psycopg is not installed (pip install '.[test]')")
    prefix: list[str] = []
    owner = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam(PG_USER)
        except KeyError:
            pytest.skip(f"running as root and there is no {PG_USER!r} user to run PostgreSQL as")
        runuser = shutil.which("runuser")
        if runuser is None:
            pytest.skip("running as root without runuser to start PostgreSQL as another user")
        prefix = [runuser, "-u", PG_USER, "--"]
    base = Path(tempfile.mkdtemp(prefix="harness-pg-"))
    if owner is not None:
        os.chown(base, owner.pw_uid, owner.pw_gid)
    data = base / "data"
    port = _free_port()

    def run(*args: str) -> None:
        done = subprocess.run(
            [*prefix, *args], capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode:
            raise RuntimeError(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")

    try:
        run(
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-A",
            "trust",
            "-U",
            "harness",
            "-E",
            "UTF8",
            "--no-sync",
        )
        options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
        run(
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(base / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )
    except BaseException:
        shutil.rmtree(base, ignore_errors=True)
        raise
    try:
        yield f"postgresql://harness@127.0.0.1:{port}"
    finally:
        run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """A fresh database on the session's server, for one test."""
    import psycopg
    from psycopg import sql

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{postgres_server}/postgres", autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return f"{postgres_server}/{name}"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a results store lives: a SQLite file, or a database on a real PostgreSQL."""
    if request.param == "sqlite":
        return str(tmp_path / "results" / "harness.sqlite")
    return str(request.getfixturevalue("postgres_url"))
