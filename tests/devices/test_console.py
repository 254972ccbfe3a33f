"""The console driver against its simulation and a scripted peer, over a real pty."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness import clock
from harness.devices.config import SerialDeviceConfig
from harness.devices.console import Console
from harness.devices.log import SerialLog
from harness.exceptions import DeviceError, DeviceTimeoutError
from harness.sim.console import ConsoleSimulation, load_console

CONSOLE_FILE = Path(__file__).resolve().parents[2] / "fixtures" / "devices" / "console.toml"


@pytest.fixture
def sim() -> Iterator[ConsoleSimulation]:
    with ConsoleSimulation(load_console(CONSOLE_FILE)) as simulation:
        yield simulation


@pytest.fixture
def console(
    peer: object, make_config: Callable[..., SerialDeviceConfig], traffic_log: SerialLog
) -> Iterator[Console]:
    with Console.open(make_config("console", peer.link.url), traffic_log) as opened:  # type: ignore[attr-defined]
        yield opened


def test_boot_banner_and_a_command_with_groups(
    sim: ConsoleSimulation, make_config: Callable[..., SerialDeviceConfig]
) -> None:
    link = sim.serve("pty")
    assert link.url.startswith("/dev/")
    with Console.open(make_config("console", link.url)) as console:
        sim.start()  # the DUT powers on
        console.expect(r"ready\r\n")
        console.expect_exact("bcm> ")
        console.send("version")
        found = console.expect(r"SW (?P<major>\d+)\.(\d+)\.(\d+)")
        assert found.groups() == ("1", "2", "3")
        assert found["major"] == "1"
        assert "version" in found.before  # the echo came first
        console.expect_exact("bcm> ")
        assert console.command("doors", "bcm> ") == "driver: locked\npassenger: locked"
    assert sim.commands == ["version", "doors"]


def test_expect_takes_a_list_and_reports_which_matched(console: Console, peer: object) -> None:
    peer.write(b"login: ")  # type: ignore[attr-defined]
    found = console.expect([r"Password:", r"login: "])
    assert (found.index, found.text) == (1, "login: ")


def test_a_partial_line_waits_for_the_rest(console: Console, peer: object) -> None:
    peer.write(b"temperat")  # type: ignore[attr-defined]
    with pytest.raises(DeviceTimeoutError):
        console.read_line(timeout=0.05)
    peer.write(b"ure: 41 C\r\nnext")  # type: ignore[attr-defined]
    assert console.read_line() == "temperature: 41 C"
    assert console.buffer.pending() == "next"


def test_garbage_bytes_do_not_stop_matching(console: Console, peer: object) -> None:
    peer.write(b"\xff\xfe\x00\x1b[2J\xc3 noise\r\nstatus: OK\r\n")  # type: ignore[attr-defined]
    found = console.expect(r"status: (\w+)")
    assert found.group(1) == "OK"
    assert "\ufffd" in found.before  # undecodable bytes show as replacement characters


def test_a_failed_expect_shows_the_tail_of_what_arrived(console: Console, peer: object) -> None:
    peer.write(b"booting\r\nerror: flash checksum\r\n")  # type: ignore[attr-defined]
    console.expect("booting")
    start = clock.now()
    with pytest.raises(DeviceTimeoutError, match="no match for 'ready' within 0.2 s") as info:
        console.expect("ready", timeout=0.2)
    assert 0.2 <= clock.now() - start < 3.0  # bounded; generous for a busy CI machine
    message = str(info.value)
    assert "console (/dev/" in message
    assert "error: flash checksum" in message
    assert isinstance(info.value, TimeoutError)


def test_marks_search_from_a_point_in_time(console: Console, peer: object) -> None:
    peer.write(b"ready\r\n")  # type: ignore[attr-defined]
    console.expect("ready")
    since = console.mark()
    with pytest.raises(DeviceTimeoutError):
        console.expect("ready", timeout=0.05, since=since)
    peer.write(b"rebooting\r\nready\r\n")  # type: ignore[attr-defined]
    assert console.expect("ready", since=since).before.strip() == "rebooting"


def test_a_port_that_disappears_fails_the_wait_at_once(console: Console, peer: object) -> None:
    console.send("reboot")
    peer.wait_for(b"reboot\r\n")  # type: ignore[attr-defined]
    unplug = threading.Timer(0.1, peer.link.disconnect)  # type: ignore[attr-defined]
    unplug.start()
    start = clock.now()
    with pytest.raises(DeviceError, match="port disappeared") as info:
        console.expect("never", timeout=5)
    unplug.join()
    assert clock.now() - start < 4.0  # not the 5 s timeout
    assert not isinstance(info.value, TimeoutError)
    with pytest.raises(DeviceError, match="cannot write"):
        console.send("anything")


def test_socket_transport(
    sim: ConsoleSimulation, make_config: Callable[..., SerialDeviceConfig]
) -> None:
    link = sim.serve("socket")
    assert link.url.startswith("socket://127.0.0.1:")
    with Console.open(make_config("console", link.url)) as console:
        assert link.wait_connected(2.0)
        sim.start()
        console.expect_exact("bcm> ")
        console.send("help")
        assert str(console.expect(r"commands: (.*)\r\n").group(1)).startswith("help")


def test_loop_url_and_the_traffic_log(
    make_config: Callable[..., SerialDeviceConfig], traffic_log: SerialLog
) -> None:
    with Console.open(make_config("console", "loop://"), traffic_log) as console:
        console.send("hello")
        assert console.read_line() == "hello"
    directions = [(e.direction, e.data) for e in traffic_log.since(0) if e.direction != "--"]
    assert ("tx", b"hello\r\n") in directions
    assert any(d == "rx" for d, _ in directions)
    assert "console    tx hello\\r\\n" in traffic_log.format()


def test_an_unopenable_port_names_the_device(
    make_config: Callable[..., SerialDeviceConfig],
) -> None:
    with pytest.raises(DeviceError, match="cannot open serial device 'console' at '/dev/nonexist"):
        Console.open(make_config("console", "/dev/nonexistent-tty"))
