"""The simulated serial devices on their own: data files, links, SCPI parsing, power."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
import serial

from harness import clock
from harness.canbus.channel import Channel
from harness.canbus.config import CanChannelConfig
from harness.exceptions import ConfigError, UnknownNameError
from harness.sim import link as link_module
from harness.sim.console import ConsoleSimulation, load_console
from harness.sim.device import fault_table
from harness.sim.ecu import MODEM_FAULTS, SimulatedEcu, load_ecu
from harness.sim.instrument import matches, nodes
from harness.sim.link import PtyLink, TcpLink
from harness.sim.modem import ModemDefinition, ModemSimulation, link_report, load_modem
from harness.sim.power import PowerSimulation, load_power

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
    data = bytes(port.read_until(wanted))
    assert data.endswith(wanted), data
    return data


@contextmanager
def modem_on_pty(
    definition: ModemDefinition,
) -> Iterator[tuple[ModemSimulation, serial.SerialBase]]:
    """A simulated modem served on a pty and booted, with echo off and ``AT+CREG=1`` sent
    (its answers left unread), and the port to talk to it."""
    with ModemSimulation(definition) as sim:
        sim.serve("pty")
        port = open_port(sim.url)
        try:
            sim.start()
            read_until(port, b"RDY\r\n")
            port.write(b"ATE0\rAT+CREG=1\r")
            yield sim, port
        finally:
            port.close()


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
    volt = nodes("[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude]")
    for header in ("VOLT", "VOLTAGE", "SOUR:VOLT", "SOURCE:VOLT:LEV", "VOLT:LEVEL:IMM:AMPL"):
        assert matches(volt, header.split(":")), header
    for header in ("VOL", "SOUR", "VOLT:AMPL:LEV", "CURR"):
        assert not matches(volt, header.split(":")), header


def test_modem_registration_urcs_follow_the_mode() -> None:
    with modem_on_pty(load_modem(DEVICES / "modem.toml")) as (sim, port):
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


# -- the modem's network, SMS loopback and faults ----------------------------------------

ROOT = Path(__file__).resolve().parents[2]
ECUS = ROOT / "fixtures" / "ecus"
DEMO_DBC = ROOT / "dbc" / "demo_vehicle.dbc"


def test_modem_fault_table_classifies_bugs_and_quirks() -> None:
    faults = fault_table("modem", DEVICES / "modem.toml")
    quirks = {name for name, fault in faults.items() if fault.quirk}
    assert quirks == {"garbage", "no_final_ok", "double_cr", "urc_in_response"}
    assert {"no_answer", "sim_failure", "no_service", "reboot_on_sms", "reboot"} <= set(faults)
    assert all(fault.description for fault in faults.values())
    assert fault_table("console", DEVICES / "console.toml") == {}
    assert load_modem(DEVICES / "modem.toml").number == "+4917099887766"


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ('[modem]\nnumber = "0171-555"', "modem.number", "expected digits"),
        ('[faults.f]\nkind = "garbage"\nquirk = "yes"', "faults.f.quirk", "expected"),
    ],
)
def test_modem_file_mistakes_in_new_keys(tmp_path: Path, text: str, key: str, problem: str) -> None:
    path = tmp_path / "modem.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_modem(path)
    assert (info.value.key, problem in info.value.problem) == (key, True)


def test_bench_faults_come_back_after_a_test_switched_others() -> None:
    sim = ModemSimulation(load_modem(DEVICES / "modem.toml"))
    sim.set_bench_faults(["garbage"])
    sim.fault_on("no_answer")
    sim.fault_off("garbage")
    assert sim.active_faults == {"no_answer"}
    sim.restore_faults()
    assert sim.active_faults == {"garbage"}
    sim.clear_faults()
    assert sim.active_faults == set()
    with pytest.raises(UnknownNameError, match="did you mean 'reboot'"):
        sim.set_bench_faults(["rebooot"])
    assert sim.bench_faults == {"garbage"}


def test_modem_deregisters_registers_and_loops_sms_back() -> None:
    quiet = replace(load_modem(DEVICES / "modem.toml"), incoming=())  # no welcome SMS
    with modem_on_pty(quiet) as (sim, port):
        read_until(port, b"+CREG: 1\r\n")  # registered, announced once the mode is on
        port.write(b"AT+COPS=2\r")
        read_until(port, b"OK\r\n\r\n+CREG: 0\r\n")  # TS 27.007 7.3: deregistered
        port.write(b"AT+COPS?\r")
        read_until(port, b"+COPS: 2\r\n\r\nOK\r\n")
        port.write(b"AT+CSQ\r")
        read_until(port, b"+CSQ: 99,99\r\n")
        port.write(b"AT+COPS=0\r")
        read_until(port, b"+CREG: 2\r\n")
        read_until(port, b"+CREG: 1\r\n")
        port.write(b"AT+CNUM\r")
        read_until(port, b'+CNUM: "","+4917099887766",145\r\n')
        port.write(b'AT+CMGF=1\rAT+CMGS="+4917099887766"\r')
        read_until(port, b"> ")
        port.write(b"ping\x1a")
        read_until(port, b"+CMGS: 1\r\n")
        read_until(port, b'+CMTI: "SM",1\r\n')  # sent to its own number: it comes back
        port.write(b"AT+CMGR=1\r")
        read_until(port, b"\r\nping\r\n")
        port.write(b"AT+CFUN=1,1\r")
        read_until(port, b"OK\r\n")
        read_until(port, b"RDY\r\n")
        assert sim.boots == 2


def test_modem_signal_changes_reach_its_watchers() -> None:
    sim = ModemSimulation(load_modem(DEVICES / "modem.toml"))
    seen: list[tuple[int, int]] = []
    sim.watch(lambda: seen.append((sim.stat, sim.reported_rssi)))
    with sim:
        sim.start()
        sim.set_registration(1)
        sim.set_signal(9)
        sim.set_signal(9)  # no change, no call
        with pytest.raises(ValueError, match="0..31 or 99"):
            sim.set_signal(40)
        sim.stop()
    assert seen[-3:] == [(1, 21), (1, 9), (1, 99)]  # registered, new signal, powered off


@pytest.fixture
def tcu_bus(virtual_channel_name: str) -> Iterator[tuple[SimulatedEcu, ModemSimulation]]:
    """The simulated TCU on a virtual bus of its own, with the simulated modem built in."""
    definition = load_ecu(ECUS / "tcu.toml")
    config = CanChannelConfig("body", "virtual", virtual_channel_name, dbc=DEMO_DBC)
    with Channel.open(config, definition.db) as channel:
        ecu = SimulatedEcu(definition, channel)
        modem = ModemSimulation(load_modem(DEVICES / "modem.toml"))
        try:
            ecu.attach(modem)
            yield ecu, modem
        finally:
            ecu.close()
            modem.close()


def _status(ecu: SimulatedEcu) -> tuple[int, int]:
    assert ecu.residual is not None
    values = ecu.residual.get("TCU_Status")
    return values["RegistrationState"], values["SignalQuality"]


def test_the_tcu_reports_its_modem_on_can(
    tcu_bus: tuple[SimulatedEcu, ModemSimulation],
) -> None:
    ecu, modem = tcu_bus
    report = link_report(modem, ecu)
    assert report is not None
    ecu.power_on()
    assert modem.powered
    modem.set_registration(1)
    assert _status(ecu) == (1, 21)
    modem.set_signal(9)
    assert _status(ecu) == (1, 9)
    ecu.reset_messages()  # back to the file's initial values, then the modem's state again
    assert _status(ecu) == (1, 9)
    modem.set_registration(2)
    assert _status(ecu) == (2, 99)
    ecu.power_off()
    assert not modem.powered


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("registration_stuck", [(1, 21), (1, 99)]),
        ("signal_in_bars", [(1, 3), (2, 99)]),
        ("unknown_signal_as_zero", [(1, 21), (2, 0)]),
    ],
)
def test_seeded_faults_of_the_tcu_report(
    tcu_bus: tuple[SimulatedEcu, ModemSimulation], fault: str, expected: list[tuple[int, int]]
) -> None:
    ecu, modem = tcu_bus
    link_report(modem, ecu)
    ecu.fault_on(fault)
    ecu.power_on()
    seen = []
    for stat in (1, 2):  # registered, then the network is lost
        modem.set_registration(stat)
        seen.append(_status(ecu))
    assert seen == expected


def test_an_ecu_without_a_status_message_reports_nothing(virtual_channel_name: str) -> None:
    definition = load_ecu(ECUS / "abs.toml")
    config = CanChannelConfig("body", "virtual", virtual_channel_name, dbc=DEMO_DBC)
    with Channel.open(config, definition.db) as channel:
        ecu = SimulatedEcu(definition, channel)
        modem = ModemSimulation(load_modem(DEVICES / "modem.toml"))
        try:
            assert link_report(modem, ecu) is None
            assert ecu.reset_hooks == []
        finally:
            ecu.close()
            modem.close()


def test_an_unknown_modem_fault_primitive_is_named(tmp_path: Path) -> None:
    path = tmp_path / "tcu.toml"
    path.write_text(
        f'[ecu]\nnode = "TCU"\ndbc = "{DEMO_DBC}"\n'
        '[faults.stuck]\ndescription = "d"\nmodem = ["registration_stuk"]\n'
    )
    with pytest.raises(ConfigError) as info:
        load_ecu(path)
    assert info.value.key == "faults.stuck.modem"
    assert "did you mean 'registration_stuck'" in info.value.problem
    assert set(MODEM_FAULTS) == {"registration_stuck", "signal_in_bars", "unknown_signal_as_zero"}
