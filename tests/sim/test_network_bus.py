"""The lossless cross-process bus: ``harness simulate --serve`` in a second process,
reached through python-can-remote's own client and through a bench channel
``interface = "remote"``."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import can
import cantools
import pytest
from clitools import harness_script

from harness.bench import Bench
from harness.config import load_bench
from harness.exceptions import BusError
from harness.sim.network_bus import NetworkBus

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A door ECU simulated in another process, its channel served on 127.0.0.1."""
    bench = tmp_path / "sim.toml"
    bench.write_text(
        f'[can.body]\ninterface = "virtual"\nchannel = "nb-{tmp_path.name}"\n'
        f'dbc = "{DATA / "mini.dbc"}"\n'
        f'[simulation.ecus.door]\nfile = "{DATA / "ecus" / "door.toml"}"\n'
    )
    process = subprocess.Popen(
        [str(harness_script()), "simulate", "--bench", str(bench), "--serve", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        head: list[str] = []
        while not head or not (head[-1].startswith("ready") or head[-1] == ""):
            head.append(process.stdout.readline())  # ends when the process does
        assert head[-1].startswith("ready"), "".join(head)
        yield {line.split()[1]: line.split()[2] for line in head if line.startswith("serve ")}
    finally:
        process.kill()
        process.communicate(timeout=30)


def test_python_can_remotes_own_client_hears_and_drives_the_simulation(
    served: dict[str, str],
) -> None:
    db = cantools.database.load_file(DATA / "mini.dbc")
    assert isinstance(db, cantools.database.can.Database)
    status = db.get_message_by_name("Status")

    def locked(msg: can.Message) -> object:
        decoded = status.decode(bytes(msg.data))
        assert isinstance(decoded, dict)
        return decoded["Locked"]

    with can.Bus(interface="remote", channel=served["body"]) as bus:
        reader = can.BufferedReader()
        with can.Notifier(bus, [reader]) as notifier:
            first = reader.get_message(timeout=20)
            assert first is not None
            while (msg := reader.get_message(timeout=20)) is not None:
                if msg.arbitration_id == status.frame_id:
                    break
            assert msg is not None, "no Status from the simulated door ECU"
            assert locked(msg) == "LOCKED"
            request = db.get_message_by_name("Req")
            bus.send(
                can.Message(
                    arbitration_id=request.frame_id,
                    data=request.encode({"Unlock": 1, "Level": 0}),
                    is_extended_id=False,
                )
            )
            while (msg := reader.get_message(timeout=20)) is not None:
                if msg.arbitration_id == status.frame_id and locked(msg) == "UNLOCKED":
                    break
            assert msg is not None, "the simulated door ECU never unlocked"
            notifier.stop()


def test_a_bench_channel_names_the_served_bus_as_its_interface(
    served: dict[str, str], tmp_path: Path
) -> None:
    bench = tmp_path / "remote.toml"
    bench.write_text(
        f'[can.body]\ninterface = "remote"\nchannel = "{served["body"]}"\n'
        f'dbc = "{DATA / "mini.dbc"}"\n'
    )
    with Bench.open(load_bench(bench)) as opened:
        body = opened.can["body"]
        body.wait_for("Status", where={"Locked": "LOCKED"}, timeout=20)
        since = body.mark()
        body.send("Req", Unlock=1)
        body.wait_for("Status", where={"Locked": "UNLOCKED"}, since=since, timeout=20)
        assert body.frames("Req", since=since) == []  # no echo of our own frame


def test_a_port_in_use_is_a_bus_error_naming_it() -> None:
    with NetworkBus.serve({"body": "nb-busy"}, "127.0.0.1", 0) as first:
        port = int(first.channels[0].url.rsplit(":", 1)[1].strip("/"))
        with pytest.raises(BusError, match=rf"cannot serve channel 'body' on 127.0.0.1:{port}"):
            NetworkBus.serve({"body": "nb-busy"}, "127.0.0.1", port)


def test_serve_wants_host_and_port(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(harness_script()), "simulate", "--serve", "localhost", "--duration", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "expected HOST:PORT" in result.stderr
