"""The simulated serial devices on their own: data files, links, SCPI parsing, power."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest
import serial

from harness import clock
from harness.exceptions import ConfigError, UnknownNameError
from harness.sim import link as link_module
from harness.sim.console import ConsoleSimulation, load_console
from harness.sim.link import PtyLink, TcpLink
from harness.sim.modem import ModemSimulation, load_modem
from harness.sim.power import PowerSimulation, _matches, _nodes, load_power

DEVICES = Path(__file__).resolve().parents[2] / "fixtures" / "devices"


class Received:
    def __init__(self) -> None:
        self.data = bytearray()
        self.cond = threading.Condition()

    def __call__(self, data: bytes) -> None:
        with self.cond:
            self.data += data
            self.cond.notify_all()

    def wait(self, wanted: bytes, timeout: float = 2.0) -> bytes:
        with self.cond:
            assert self.cond.wait_for(lambda: wanted in self.data, timeout), bytes(self.data)
            return bytes(self.data)


def open_port(url: str) -> serial.SerialBase:
    return serial.serial_for_url(url, timeout=2)


def read_until(port: serial.SerialBase, wanted: bytes) -> bytes:
    data = port.read_until(wanted)
    assert data.endswith(wanted), data
    return data


@pytest.mark.parametrize(
    ("file", "text", "key", "problem"),
    [
        ("modem", '[faults.f]\nkind = "no_anwser"', "faults.f.kind", "did you mean 'no_answer'"),
        ("modem", '[modem]\nimei = "35-69"', "modem.imei", "expected digits"),
        ("modem", "[network]\nregistration = [{ stat = 9 }]", "network.registration[0].stat",
         "expected 0..5"),
        ("modem", '[sms]\nincoming = [{ text = "x" }]', "sms.incoming[0].sender", "missing"),
        ("modem", "[modme]\n", "modme", "did you mean 'modem'"),
        ("power", "[supply]\nvoltage = 50", "supply.voltage", "above max_voltage"),
        ("power", "[load]\nboot = 5", "load.boot", "did you mean 'boot_ms'"),
        ("console", '[console]\nbanner = "one line"', "console.banner", "a list of strings"),
    ],
)  # fmt: skip
def test_data_file_mistakes_name_file_and_key(
    tmp_path: Path, file: str, text: str, key: str, problem: str
) -> None:
    loader = {"modem": load_modem, "power": load_power, "console": load_console}[file]
    path = tmp_path / f"{file}.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        loader(path)
    assert (info.value.source, info.value.key) == (str(path), key)
    assert problem in info.value.problem


def test_the_shipped_device_files_load() -> None:
    modem = load_modem(DEVICES / "modem.toml")
    assert modem.registration == ((0.0, 2), (0.15, 1))
    assert set(modem.faults) >= {"no_answer", "garbage", "reboot", "sim_failure"}
    assert load_power(DEVICES / "psu.toml").boot_delay == 0.12
    assert "version" in load_console(DEVICES / "console.toml").commands


def test_scpi_short_and_long_forms() -> None:
    volt = _nodes("[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude]")
    for header in ("VOLT", "VOLTAGE", "SOUR:VOLT", "SOURCE:VOLT:LEV", "VOLT:LEVEL:IMM:AMPL"):
        assert _matches(volt, header.split(":")), header
    for header in ("VOL", "SOUR", "VOLT:AMPL:LEV", "CURR"):
        assert not _matches(volt, header.split(":")), header


def test_modem_registration_urcs_follow_the_mode() -> None:
    with ModemSimulation(load_modem(DEVICES / "modem.toml")) as sim:
        sim.serve("pty")
        port = open_port(sim.url)
        try:
            sim.start()
            read_until(port, b"RDY\r\n")
            port.write(b"ATE0\rAT+CREG=1\r")
            read_until(port, b"OK\r\n")
            read_until(port, b"OK\r\n")
            sim.set_registration(5)
            assert read_until(port, b"\r\n+CREG: 5\r\n").endswith(b"+CREG: 5\r\n")
            port.write(b"AT+CREG=2\r")
            read_until(port, b"OK\r\n")
            sim.set_registration(1)
            read_until(port, b'+CREG: 1,"00C3","0000A13F",7\r\n')
            with pytest.raises(UnknownNameError, match="did you mean 'garbage'"):
                sim.fault_on("garbag")
        finally:
            port.close()


def test_console_is_silent_while_its_dut_is_off() -> None:
    with ConsoleSimulation(load_console(DEVICES / "console.toml")) as sim:
        sim.serve("pty")
        port = open_port(sim.url)
        try:
            port.write(b"version\r")  # nobody home
            assert sim.wait_received(8, 2.0)
            sim.start()
            read_until(port, b"bcm> ")
            assert sim.commands == []
            port.write(b"doors\r")
            read_until(port, b"passenger: locked\r\nbcm> ")
            sim.stop()
            port.write(b"version\r")
            assert sim.wait_received(8 + 6 + 8, 2.0)
            sim.start()
            assert b"SW 1.2.3 (sim)" not in read_until(port, b"bcm> ")
            assert sim.boots == 2
            assert sim.commands == ["doors"]
        finally:
            port.close()


def test_power_off_during_the_boot_cancels_it() -> None:
    events: list[bool] = []
    with PowerSimulation(load_power(DEVICES / "psu.toml")) as sim:
        sim.on_power(events.append)
        sim.set_output(True)
        sim.set_output(False)
        sim.set_output(True)
        assert sim.wait_dut(True, 2.0)
        assert events == [False, True]  # one boot, after the last switch-on


def test_a_tcp_link_serves_one_client_at_a_time() -> None:
    received = Received()
    link = TcpLink(received, "t")
    try:
        first = open_port(link.url)
        assert link.wait_connected(2.0)
        second = socket.create_connection((link.host, link.port), timeout=2)
        assert second.recv(10) == b""  # refused: closed at once
        second.close()
        first.write(b"hello")
        received.wait(b"hello")
        link.write(b"back")
        assert first.read(4) == b"back"
        link.disconnect()
        with pytest.raises(serial.SerialException):
            first.read(1)
        first.close()
    finally:
        link.close()


def test_a_pty_link_drops_what_a_harness_never_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(link_module, "WRITE_TIMEOUT", 0.05)
    link = PtyLink(lambda data: None, "p")
    try:
        start = clock.now()
        link.write(b"x" * 200_000)  # more than a pty buffers
        assert link.dropped > 0
        assert clock.now() - start < 3.0
    finally:
        link.close()
