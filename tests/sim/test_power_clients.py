"""The simulated SCPI supply through clients nobody on the project wrote: raw pyserial
on its pty, and PyVISA (pyvisa-py) on its pty and its TCP socket.

What is checked is what IEEE 488.2 and SCPI-1999 require of an instrument: the
mandatory common commands and the status bits they read and write, the STATus
subsystem, the error queue with its overflow, numeric parameters with units and
MIN/MAX/DEF, and the path rule of compound messages.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import pyvisa
import serial
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.sim.instrument import ERROR_QUEUE, MULTIPLIERS
from harness.sim.power import PowerSimulation, load_power

PSU_FILE = Path(__file__).resolve().parents[2] / "fixtures" / "devices" / "psu.toml"
IDN = "ecu-harness,SIM-PSU-1,SN0001,1.0"


class Raw:
    """A terminal's view of the supply: a line out, a line back (pyserial only)."""

    def __init__(self, port: serial.SerialBase) -> None:
        self.port = port

    def send(self, line: str) -> None:
        self.port.write(line.encode() + b"\n")

    def ask(self, line: str) -> str:
        self.send(line)
        answer = bytes(self.port.read_until(b"\n"))
        assert answer.endswith(b"\n"), f"no answer to {line!r}: {answer!r}"
        return answer.decode().strip()


@pytest.fixture
def sim() -> Iterator[PowerSimulation]:
    with PowerSimulation(load_power(PSU_FILE)) as simulation:
        yield simulation


@pytest.fixture
def raw(sim: PowerSimulation) -> Iterator[Raw]:
    port = serial.Serial(sim.serve("pty").url, baudrate=9600, timeout=2)
    try:
        yield Raw(port)
    finally:
        port.close()


def test_every_mandatory_common_command_over_raw_pyserial(raw: Raw) -> None:
    assert raw.ask("*IDN?") == IDN
    assert raw.ask("*ESR?") == "128"  # PON: the supply has just been switched on
    assert raw.ask("*ESR?") == "0"  # reading cleared it
    assert raw.ask("*TST?") == "0"  # self-test passed
    raw.send("*ESE 60")  # QYE | DDE | EXE | CME
    assert raw.ask("*ESE?") == "60"
    raw.send("*SRE 255")
    assert raw.ask("*SRE?") == "191"  # bit 6 (MSS) cannot be enabled
    raw.send("*SRE 32")  # ESB only
    assert raw.ask("*SRE?;*STB?") == "32;16"  # MAV: the *SRE? answer waits

    raw.send("BOGUS")  # a command error: CME in the ESR, the error queued
    assert raw.ask("*STB?") == str(0x04 | 0x20 | 0x40)  # EAV | ESB | MSS, not cleared
    assert raw.ask("*STB?") == "100"
    assert raw.ask("*ESR?") == "32"  # CME, and reading it clears ESB
    assert raw.ask("*STB?") == "4"  # the error is still queued
    assert raw.ask("SYST:ERR?") == '-113,"Undefined header"'
    assert raw.ask("SYST:ERR?;*STB?") == '0,"No error";16'

    raw.send("VOLT 99")  # an execution error: EXE
    assert raw.ask("*ESR?") == "16"
    assert raw.ask("*STB?;SYST:ERR?") == '4;-222,"Data out of range"'  # EAV
    assert raw.ask("*IDN?;*STB?") == f"{IDN};16"  # MAV: a response is waiting
    raw.send("*OPC")  # nothing is pending: operation complete at once
    assert raw.ask("*ESR?") == "1"
    assert raw.ask("*WAI;*OPC?") == "1"  # *WAI answers nothing and lets the next run

    raw.send("VOLT 5;OUTP ON;BOGUS")
    raw.send("*CLS")  # event status and the error queue cleared, enables kept
    assert raw.ask("*ESR?;SYST:ERR:COUN?;*ESE?;*SRE?") == "0;0;60;32"
    raw.send("*RST")  # the settings back to power-up, the status enables kept
    assert raw.ask("OUTP?;VOLT?;CURR?;*ESE?") == "0;12.000;3.000;60"
    assert raw.ask("SYST:VERS?") == "1999.0"


def test_operation_and_questionable_status_follow_the_output(
    sim: PowerSimulation, raw: Raw
) -> None:
    raw.send("STAT:OPER:ENAB 1024;:STAT:QUES:ENAB 2;*SRE 136")  # CC; CURRent; both summaries
    assert raw.ask("STAT:OPER:ENAB?;:STAT:QUES:ENAB?") == "1024;2"
    assert raw.ask("STAT:OPER:COND?;:STAT:QUES:COND?;*STB?") == "0;0;16"
    raw.send("CURR 100 mA;OUTP ON")  # less than the DUT draws (0.35 A)
    assert sim.wait_dut(True, 2.0)
    assert raw.ask("STAT:OPER:COND?;:STAT:QUES:COND?") == "1024;3"  # CC; VOLTage|CURRent
    assert raw.ask("*STB?") == str(0x80 | 0x08 | 0x40)  # OPER and QUES summaries, MSS
    assert raw.ask("MEAS:VOLT?;CURR?") == "3.429;0.100"  # 12 V into a 34 ohm load at 0.1 A
    assert raw.ask("STAT:OPER?") == str(0x100 | 0x400)  # CV at switch-on, then CC
    assert raw.ask("STAT:OPER?;*STB?") == "0;88"  # the event read; QUES, MAV, MSS
    raw.send("CURR 3")
    assert raw.ask("STAT:OPER:COND?;:STAT:QUES:COND?;:MEAS:VOLT?") == "256;0;12.000"
    # report CC ending only (the path stays STAT:OPER); the event so far is CV coming back
    assert raw.ask("STAT:OPER:NTR 1024;PTR 0;EVEN?") == "256"
    raw.send("CURR 0.1")
    raw.send("CURR 3")
    assert raw.ask("STAT:OPER?") == "1024"
    raw.send("STAT:PRES")
    assert raw.ask("STAT:OPER:ENAB?;PTR?;NTR?;:STAT:QUES:ENAB?") == "0;32767;0;0"


def test_the_error_queue_overflows_into_350(raw: Raw) -> None:
    for _ in range(ERROR_QUEUE + 5):
        raw.send("VOLT 99")
    assert raw.ask("SYST:ERR:COUN?") == str(ERROR_QUEUE)
    errors = [raw.ask("SYST:ERR?") for _ in range(ERROR_QUEUE + 1)]
    assert errors[: ERROR_QUEUE - 1] == ['-222,"Data out of range"'] * (ERROR_QUEUE - 1)
    assert errors[ERROR_QUEUE - 1 :] == ['-350,"Queue overflow"', '0,"No error"']


def test_the_path_rule_in_compound_messages(sim: PowerSimulation, raw: Raw) -> None:
    raw.send("OUTP ON")
    assert sim.wait_dut(True, 2.0)
    # CURR? after MEAS:VOLT? is MEAS:CURR?: the measured 0.35 A, not the 3 A setting
    assert raw.ask("MEAS:VOLT?;CURR?") == "12.000;0.350"
    assert raw.ask("MEAS:VOLT?;:CURR?") == "12.000;3.000"  # the leading colon: the root
    raw.send("SOUR:VOLT 13.5;CURR 2")  # CURR is SOUR:CURR
    assert raw.ask("VOLT?;*IDN?;CURR?") == f"13.500;{IDN};2.000"  # *IDN? keeps the path
    assert raw.ask("MEAS:VOLT:DC?;CURR?;:SYST:ERR?") == '13.500;-113,"Undefined header"'
    assert raw.ask("OUTP1?;:OUTPUT:STATE?") == "1;1"  # a numeric header suffix


@pytest.mark.parametrize(
    ("command", "volts", "error"),
    [
        ("VOLT 13500mV", "13.500", "0"),
        ("VOLT 1.2E1 V", "12.000", "0"),
        ("VOLT .5", "0.500", "0"),
        ("VOLT +2.5e+0V", "2.500", "0"),
        ("VOLT MAX", "30.000", "0"),
        ("VOLT min", "0.000", "0"),
        ("VOLT 5;VOLT DEF", "12.000", "0"),
        ("VOLT 0.025KV", "25.000", "0"),
        ("VOLT 5A", "12.000", "-131"),
        ("VOLT 31", "12.000", "-222"),
        ("VOLT twelve", "12.000", "-104"),
        ("VOLT", "12.000", "-109"),
        ("VOLT 1,2", "12.000", "-108"),
        ("*ESE 4V", "12.000", "-138"),
        ("OUTP MAYBE", "12.000", "-224"),
        ("VOLT 5;;CURR 1", "5.000", "-102"),
    ],
)
def test_numeric_parameters_and_their_errors(
    raw: Raw, command: str, volts: str, error: str
) -> None:
    raw.send(command)
    code = raw.ask("SYST:ERR?").partition(",")[0]
    assert (raw.ask("VOLT?"), code) == (volts, error)


def test_min_max_def_queries_and_milliamps(raw: Raw) -> None:
    assert raw.ask("VOLT? MIN;VOLT? MAX;VOLT? DEF") == "0.000;30.000;12.000"
    assert raw.ask("CURR? MAXIMUM;CURR? DEFAULT") == "10.000;3.000"
    raw.send("CURR 250MA")  # M is milli in IEEE 488.2 (MA alone would be mega)
    assert raw.ask("CURR?;:SYST:ERR?") == '0.250;0,"No error"'


@settings(deadline=None, max_examples=100)
@given(
    millivolts=st.integers(min_value=0, max_value=30_000),
    prefix=st.sampled_from(["", "M", "K", "U"]),
    spaced=st.booleans(),
    case=st.sampled_from([str.upper, str.lower]),
)
def test_any_voltage_with_any_multiplier_is_the_same_voltage(
    millivolts: int, prefix: str, spaced: bool, case: object
) -> None:
    with PowerSimulation(load_power(PSU_FILE)) as sim:
        instrument = sim.instrument
        number = f"{millivolts / 1000 / MULTIPLIERS[prefix]!r}"
        suffix = case(f"{prefix}V")  # type: ignore[operator]
        assert instrument.message(f"VOLT {number}{' ' if spaced else ''}{suffix}") is None
        assert instrument.message("VOLT?;:SYST:ERR?") == f'{millivolts / 1000:.3f};0,"No error"'


@pytest.mark.parametrize("transport", ["pty", "socket"])
def test_pyvisa_drives_the_supply_over_its_pty_and_its_socket(
    sim: PowerSimulation, transport: str
) -> None:
    url = sim.serve(transport).url
    resource_name = (
        f"TCPIP::127.0.0.1::{url.rpartition(':')[2]}::SOCKET"
        if transport == "socket"
        else f"ASRL{url}::INSTR"
    )
    manager = pyvisa.ResourceManager("@py")
    instrument = manager.open_resource(
        resource_name, read_termination="\n", write_termination="\n", timeout=2000
    )
    assert isinstance(instrument, pyvisa.resources.MessageBasedResource)
    try:
        assert instrument.query("*IDN?") == IDN
        assert instrument.query("*ESR?") == "128"
        instrument.write("*ESE 16;*SRE 32;VOLT 13.5;CURR 2;OUTP ON")
        assert sim.wait_dut(True, 2.0)
        assert instrument.query_ascii_values("MEAS:VOLT?;CURR?", separator=";") == [13.5, 0.35]
        instrument.write("VOLT 40")  # refused: EXE, ESB, MSS
        assert int(instrument.query("*STB?")) & 0x60 == 0x60
        assert instrument.query("SYST:ERR?") == '-222,"Data out of range"'
        assert instrument.query("*ESR?;*STB?") == "16;16"  # only MAV: the ESR answer waits
        assert instrument.query("*OPC?") == "1"
    finally:
        instrument.close()
        manager.close()
