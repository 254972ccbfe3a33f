"""``harness monitor``: per-message statistics, and the command on a live virtual bus."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import can
import pytest
from click.testing import CliRunner
from clitools import harness_script

import harness.cli.monitor as monitor_cli
from harness.canbus.channel import Channel
from harness.canbus.database import SignalDatabase
from harness.canbus.frame import Frame
from harness.cli import cli, main
from harness.cli.monitor import MessageStats, Reader, TrafficStats, frame_content
from harness.exceptions import BusError

ROOT = Path(__file__).resolve().parents[2]
MINI = ROOT / "tests" / "data" / "mini.dbc"
DEMO_DBC = ROOT / "dbc" / "demo_vehicle.dbc"
VIRTUAL_BENCH = ROOT / "fixtures" / "benches" / "virtual.toml"

STATUS_PERIOD = 0.02
UNKNOWN_ID = 0x7AB


def frame(
    t: float, bus_t: float = 0.0, arbitration_id: int = 0x110, channel: str = "body"
) -> Frame:
    return Frame(t, arbitration_id, b"\x01", channel, bus_timestamp=bus_t)


# --- MessageStats --------------------------------------------------------------------------


def test_stats_count_and_keep_the_latest_frame() -> None:
    stats = MessageStats("Status", expected=0.02)
    assert (stats.count, stats.last, stats.cycle_time) == (0, None, None)
    first = frame(1.0, 10.0)
    stats.add(first)
    assert (stats.count, stats.last, stats.cycle_time) == (1, first, None)
    second = frame(1.5, 10.02)
    stats.add(second)
    assert stats.count == 2
    assert stats.last is second


def test_cycle_time_uses_the_interface_timestamps() -> None:
    """Arrival times jitter with thread scheduling; the bus timestamps are what was sent."""
    stats = MessageStats()
    for arrival, bus in ((5.0, 100.00), (5.9, 100.02), (6.0, 100.04), (6.05, 100.06)):
        stats.add(frame(arrival, bus))
    assert stats.cycle_time == pytest.approx(0.02)


def test_cycle_time_falls_back_to_arrival_times() -> None:
    stats = MessageStats()
    for arrival in (1.0, 1.1, 1.3):
        stats.add(frame(arrival))
    assert stats.cycle_time == pytest.approx(0.15)


def test_cycle_time_follows_recent_intervals_only() -> None:
    stats = MessageStats(window=3)
    for t in (0.0, 0.01, 0.02, 0.03, 0.13, 0.23, 0.33):  # 10 ms, then 100 ms
        stats.add(frame(t, t))
    assert stats.cycle_time == pytest.approx(0.1)


def test_a_timestamp_going_backwards_is_not_an_interval() -> None:
    stats = MessageStats()
    for t in (10.0, 10.5, 2.0, 2.5):  # e.g. the interface's clock was reset
        stats.add(frame(t, t))
    assert stats.count == 4
    assert stats.cycle_time == pytest.approx(0.5)


def test_traffic_stats_rows_per_channel_direction_and_id(mini_db: SignalDatabase) -> None:
    stats = TrafficStats({"body": mini_db, "raw": None})
    status = mini_db.message("Status")
    data = mini_db.encode("Status", {"Speed": 12.5, "Locked": 1})[1]
    for t in (1.0, 1.02, 1.04):
        stats.add(
            [
                Frame(
                    t,
                    status.frame_id,
                    data,
                    "body",
                    name="Status",
                    signals=mini_db.decode(status, data),
                    bus_timestamp=t,
                ),
                Frame(t, UNKNOWN_ID, b"\xde\xad", "body", bus_timestamp=t),
                Frame(t, status.frame_id, data, "raw", bus_timestamp=t),
            ]
        )
    stats.add([Frame(1.05, status.frame_id, data, "body", is_rx=False, bus_timestamp=7.0)])
    rows = stats.rows()
    assert [(r.channel, r.is_rx, r.id_text, r.name, r.count) for r in rows] == [
        ("body", False, "0x110", "Status", 1),
        ("body", True, "0x110", "Status", 3),
        ("body", True, "0x7AB", "?", 3),
        ("raw", True, "0x110", "?", 3),  # no database on that channel
    ]
    received = rows[1]
    assert received.expected == pytest.approx(0.02)
    assert received.cycle_time == pytest.approx(0.02)
    assert "Speed=12.5" in received.content
    assert "Locked=UNLOCKED" in received.content
    assert rows[2].content == "de ad"
    assert rows[2].expected is None
    assert stats.total == 10


def test_frame_content() -> None:
    signals = {"Speed": 12.5, "Mode": 3}
    assert frame_content(Frame(0, 1, b"\x00", signals=signals)) == "Speed=12.5 Mode=3"
    assert frame_content(Frame(0, 1, b"")) == "(no data)"
    assert frame_content(Frame(0, 1, b"\x01\x02", decode_error="too short")) == (
        "01 02 [undecodable: too short]"
    )
    cut = frame_content(Frame(0, 1, bytes(range(64))), width=20)
    assert len(cut) == 20
    assert cut.endswith("…")


# --- the reader --------------------------------------------------------------------------


@pytest.fixture
def lone_channel(virtual_channel_name: str, mini_db: SignalDatabase) -> Iterator[Channel]:
    with Channel(
        "lone", can.Bus(interface="virtual", channel=virtual_channel_name), mini_db, history=4
    ) as channel:
        yield channel


def test_a_reader_that_falls_behind_counts_what_it_missed(lone_channel: Channel) -> None:
    stop = threading.Event()

    class StopOnMiss(TrafficStats):
        def add_missed(self, channel: str, count: int) -> None:
            super().add_missed(channel, count)
            stop.set()

    stats = StopOnMiss({"lone": None})
    for t in range(10):  # more than the history keeps, before the reader looked
        lone_channel.history.append(frame(float(t), channel="lone"))
    Reader(lone_channel, stats, stop).run()  # in this thread: returns once stop is set
    assert stats.missed == {"lone": 10}


def test_a_reader_whose_bus_dies_stops_the_monitor(lone_channel: Channel) -> None:
    stop = threading.Event()
    lone_channel.history.fail(OSError("adapter unplugged"))
    reader = Reader(lone_channel, TrafficStats({"lone": None}), stop)
    reader.run()
    assert stop.is_set()
    assert isinstance(reader.error, BusError)
    assert "adapter unplugged" in str(reader.error)


# --- the command on a virtual bus ----------------------------------------------------------


def write_bench(tmp_path: Path, *names: str) -> tuple[Path, dict[str, str]]:
    """A bench with one mini.dbc channel per name; returns it and the virtual bus names."""
    buses = {name: f"{tmp_path.name}-{name}" for name in names}
    path = tmp_path / "bench.toml"
    path.write_text(
        '[bench]\nname = "mon"\n'
        + "".join(
            f'\n[can.{name}]\ninterface = "virtual"\nchannel = "{bus}"\ndbc = "{MINI}"\n'
            for name, bus in buses.items()
        )
    )
    return path, buses


@contextmanager
def traffic(bus_name: str, db: SignalDatabase) -> Iterator[Channel]:
    """Another node on the bus: Status every 20 ms, and a frame no database knows."""
    with Channel("sender", can.Bus(interface="virtual", channel=bus_name), db) as sender:
        sender.send_periodic("Status", period=STATUS_PERIOD, Speed=12.5, Locked=1)
        unknown = can.Message(arbitration_id=UNKNOWN_ID, data=b"\x01\x02", is_extended_id=False)
        sender.bus.send_periodic(unknown, 0.05)  # stopped when the bus shuts down
        yield sender


def table_rows(output: str) -> dict[str, list[str]]:
    """Data rows of the monitor's table by message name (``?`` rows by ID)."""
    rows = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if len(cells) == 8 and cells[0] not in {"Channel", ""}:
            rows[cells[2] if cells[3] == "?" else cells[3]] = cells
    return rows


def milliseconds(text: str) -> float:
    match = re.fullmatch(r"([\d.]+) ms", text)
    assert match, text
    return float(match.group(1))


def test_monitor_shows_decoded_traffic_and_cycle_times(
    tmp_path: Path, mini_db: SignalDatabase
) -> None:
    path, buses = write_bench(tmp_path, "body")
    with traffic(buses["body"], mini_db):
        result = CliRunner().invoke(cli, ["monitor", "--bench", str(path), "--duration", "0.3"])
    assert result.exit_code == 0, result.output
    assert "\x1b[" not in result.stdout
    rows = table_rows(result.stdout)
    channel, direction, ident, _name, count, cycle, expected, content = rows["Status"]
    assert (channel, direction, ident, expected) == ("body", "rx", "0x110", "20.0 ms")
    assert int(count) > 0
    assert STATUS_PERIOD / 3 < milliseconds(cycle) / 1000 < STATUS_PERIOD * 3
    assert "Speed=12.5" in content
    assert "Locked=UNLOCKED" in content
    unknown = rows["0x7AB"]
    assert unknown[6:] == ["-", "01 02"]
    total = re.search(
        r"^(\d+) frames, ([\d.]+) frames/s; evicted from history: body 0$",
        result.stdout,
        re.MULTILINE,
    )
    assert total, result.stdout
    assert int(total.group(1)) >= int(count) + int(unknown[4])
    assert float(total.group(2)) > 0
    assert "monitor: watching body on bench 'mon' for 0.3 s" in result.stderr


def test_monitor_watches_only_the_channels_named(tmp_path: Path, mini_db: SignalDatabase) -> None:
    path, buses = write_bench(tmp_path, "body", "chassis")
    with traffic(buses["chassis"], mini_db) as sender:
        args = ["monitor", "--bench", str(path), "--duration", "0.2"]
        only_body = CliRunner().invoke(cli, [*args, "--channel", "body"])
        # Named twice, watched once: every frame counted once.
        only_chassis = CliRunner().invoke(cli, [*args, "--channel", "chassis", "-c", "chassis"])
        sent = sum(1 for f in sender.history.since(0) if f.name == "Status" and not f.is_rx)
    assert only_body.exit_code == 0, only_body.output
    assert table_rows(only_body.stdout) == {}
    assert "0 frames" in only_body.stdout
    assert "evicted from history: body 0\n" in only_body.stdout
    assert only_chassis.exit_code == 0, only_chassis.output
    status = table_rows(only_chassis.stdout)["Status"]
    assert status[0] == "chassis"
    assert 0 < int(status[4]) <= sent


def test_an_unknown_channel_is_one_error_line_with_a_suggestion(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path, _ = write_bench(tmp_path, "body")
    with pytest.raises(SystemExit) as exit_info:
        main(["monitor", "--bench", str(path), "--channel", "bdy", "--duration", "0.1"])
    out, err = capsys.readouterr()
    assert exit_info.value.code == 2
    assert err.splitlines() == [
        "error: bench 'mon' has no CAN channel 'bdy' (did you mean 'body'?); it has: body"
    ]
    assert out == ""


def test_a_bench_without_can_channels_has_nothing_to_monitor(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "bench.toml"
    path.write_text('[bench]\nname = "empty"\n')
    with pytest.raises(SystemExit) as exit_info:
        main(["monitor", "--bench", str(path), "--duration", "0.1"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == "error: bench 'empty' has no CAN channels to monitor\n"


def test_not_a_terminal_and_no_duration_collects_for_a_while(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(monitor_cli, "PIPE_DURATION", 0.1)
    path, _ = write_bench(tmp_path, "body")
    result = CliRunner().invoke(cli, ["monitor", "--bench", str(path)])
    assert result.exit_code == 0, result.output
    assert "stdout is not a terminal; collecting for 0.1 s (set --duration)" in result.stderr
    assert "CAN traffic on bench 'mon'" in result.stdout


def test_the_live_view_leaves_the_final_table(
    tmp_path: Path, mini_db: SignalDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a terminal the table redraws in place; what stays is the one drawn after stopping."""
    monkeypatch.setattr(monitor_cli, "_interactive", lambda: True)
    path, buses = write_bench(tmp_path, "body")
    with traffic(buses["body"], mini_db):
        result = CliRunner().invoke(
            cli, ["monitor", "--bench", str(path), "--duration", "0.3", "--refresh", "20"]
        )
    assert result.exit_code == 0, result.output
    assert result.stdout.count("CAN traffic on bench 'mon'") == 1
    assert int(table_rows(result.stdout)["Status"][4]) > 0
    assert result.stderr == ""  # no note: the live view says it all


def test_bad_option_values_are_usage_errors(tmp_path: Path) -> None:
    path, _ = write_bench(tmp_path, "body")
    for option in (["--duration", "0"], ["--refresh", "0"]):
        result = CliRunner().invoke(cli, ["monitor", "--bench", str(path), *option])
        assert result.exit_code == 2
        assert option[0] in result.stderr


def test_help_has_examples() -> None:
    result = CliRunner().invoke(cli, ["monitor", "--help"])
    assert result.exit_code == 0
    assert "harness monitor --bench lab.toml --channel body --duration 10" in result.stdout
    assert "--refresh HZ" in result.stdout


# --- the real console script -----------------------------------------------------------


@pytest.mark.skipif(not DEMO_DBC.is_file(), reason="dbc/demo_vehicle.dbc not written yet")
def _ctrl_c_as_in_a_terminal() -> None:
    """Give the child the SIGINT a terminal user has. A test run started in the background
    (CI, nohup) ignores SIGINT, children inherit that, and Python then never raises
    KeyboardInterrupt: the monitor would not hear the Ctrl-C this test sends."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_stops_cleanly_and_prints_the_final_table() -> None:
    """The default bench ($HARNESS_BENCH) with its simulated ECUs, stopped by SIGINT."""
    env = {k: v for k, v in os.environ.items() if k not in {"FORCE_COLOR", "TERM"}}
    env.pop("HARNESS_BENCH_SET", None)
    env["HARNESS_BENCH"] = str(VIRTUAL_BENCH)
    with subprocess.Popen(
        [str(harness_script()), "monitor", "--duration", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=_ctrl_c_as_in_a_terminal,  # noqa: PLW1509 - only resets one signal
    ) as proc:
        assert proc.stderr is not None
        started = proc.stderr.readline()  # printed once Ctrl-C is handled
        expected = "monitor: watching body, chassis on bench 'virtual' for 60 s"
        assert started.startswith(expected), started
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert err == ""
    rows = table_rows(out)
    assert int(rows["ECM_EngineData"][4]) > 0
    assert rows["ECM_EngineData"][6] == "10.0 ms"
    assert re.search(
        r"^\d+ frames, [\d.]+ frames/s; evicted from history: body 0, chassis 0$",
        out,
        re.MULTILINE,
    )
