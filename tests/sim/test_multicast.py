"""Carrying a virtual bench between processes: the transform, the handshake, the loss meter,
and a real second process driven from the test."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from clitools import harness_script

from harness.canbus.channel import Channel
from harness.canbus.database import SignalDatabase
from harness.canbus.frame import Frame
from harness.config import load_bench, over_multicast
from harness.sim.multicast import GROUP, LossMeter, carried, port_for, wait_until_heard

DATA = Path(__file__).resolve().parents[1] / "data"


def write_bench(tmp_path: Path, channel: str) -> Path:
    path = tmp_path / "bench.toml"
    path.write_text(
        f'[can.body]\ninterface = "virtual"\nchannel = "{channel}"\ndbc = "{DATA / "mini.dbc"}"\n'
        f'[simulation.ecus.door]\nfile = "{DATA / "ecus" / "door.toml"}"\n'
    )
    return path


def test_virtual_channels_become_multicast_ports_named_after_them(tmp_path: Path) -> None:
    config = over_multicast(load_bench(write_bench(tmp_path, "bus-a")))
    body = config.can["body"]
    assert (body.interface, body.channel) == ("udp_multicast", GROUP)
    assert body.options["port"] == port_for("bus-a") != port_for("bus-b")
    assert carried(body) is body  # only virtual channels are carried


def status(counter: int) -> Frame:
    return Frame(0.0, 0x110, b"", name="Status", signals={"Counter": counter})


def test_the_loss_meter_counts_gaps_in_rolling_counters(mini_db: SignalDatabase) -> None:
    meter = LossMeter(mini_db)
    for counter in (14, 15, 0, 3, 4, 4):  # 1 and 2 lost; a repeat (4, 4) counts 15 lost laps
        meter.feed(status(counter))
    meter.feed(Frame(0.0, 0x100, b"", name="Req", signals={"Unlock": 1}))  # no counter: ignored
    assert meter.received == 6
    assert meter.lost == 2 + 15
    assert meter.loss == pytest.approx(17 / 23)
    assert meter.summary() == "6 counted frames heard back, 17 lost (73.913%)"


def test_without_a_declared_counter_loss_is_not_measured(mini_db: SignalDatabase) -> None:
    meter = LossMeter(mini_db)
    meter.feed(Frame(0.0, 0x100, b"", name="Req", signals={"Unlock": 1}))  # no counter
    assert meter.loss is None
    assert meter.summary().startswith("loss not measured")


def test_the_handshake_names_what_was_never_heard(tester: Channel, ecu: Channel) -> None:
    with ecu.send_periodic("Status", period=0.01):
        assert wait_until_heard(tester, ["Status"], timeout=30) == []
        assert wait_until_heard(tester, ["Status", "Telemetry"], timeout=0.1) == ["Telemetry"]


def test_a_simulation_in_another_process_is_seen_and_driven_from_here(
    tmp_path: Path, mini_db: SignalDatabase
) -> None:
    bench = write_bench(tmp_path, f"mc-{tmp_path.name}")
    listener = over_multicast(load_bench(bench)).can["body"]
    with Channel.open(listener, mini_db) as body:
        process = subprocess.Popen(
            [
                str(harness_script()),
                "simulate",
                "--bench",
                str(bench),
                "--duration",
                "6",
                "--report-every",
                "1",
            ],
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
            body.wait_for("Status", where={"Locked": "LOCKED"}, timeout=20)
            since = body.mark()
            body.send("Req", Unlock=1)
            body.wait_for("Status", where={"Locked": "UNLOCKED"}, since=since, timeout=5)
            assert body.frames("Req", since=since) == []  # our own frame's echo was dropped
            assert body.wait_for("Req", since=since, sent=True, timeout=0)
            rest, _ = process.communicate(timeout=30)
            output = "".join(head) + rest
        finally:
            process.kill()
    assert process.returncode == 0, output
    assert "ready: delivery verified" in output
    assert "counted frames heard back" in output


def test_simulate_refuses_a_bench_without_simulated_ecus(tmp_path: Path) -> None:
    path = tmp_path / "plain.toml"
    path.write_text(
        f'[can.body]\ninterface = "virtual"\nchannel = "x"\ndbc = "{DATA / "mini.dbc"}"\n'
    )
    result = subprocess.run(
        [str(harness_script()), "simulate", "--bench", str(path), "--duration", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == f"error: {path}: simulation: the bench simulates no ECUs ([simulation.ecus.NAME])"
    )


def test_monitor_watches_a_simulation_in_another_process(tmp_path: Path) -> None:
    bench = write_bench(tmp_path, f"mon-{tmp_path.name}")
    simulation = subprocess.Popen(
        [
            str(harness_script()),
            "simulate",
            "--bench",
            str(bench),
            "--duration",
            "8",
            "--report-every",
            "60",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert simulation.stdout is not None
        head: list[str] = []
        while not head or not (head[-1].startswith("ready") or head[-1] == ""):
            head.append(simulation.stdout.readline())
        assert head[-1].startswith("ready"), "".join(head)
        watched = subprocess.run(
            [
                str(harness_script()),
                "monitor",
                "--bench",
                str(bench),
                "--multicast",
                "--duration",
                "1",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        simulation.kill()
        simulation.communicate(timeout=30)
    assert watched.returncode == 0, watched.stderr
    status_row = next(line for line in watched.stdout.splitlines() if " Status " in line)
    measured = float(re.findall(r"([\d.]+) ms", status_row)[0])
    assert 5 < measured < 20  # the door ECU's 10 ms Status period, measured across processes
