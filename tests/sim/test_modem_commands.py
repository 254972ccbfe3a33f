"""The simulated modem's TS 27.007/27.005 commands, answered on a pty to raw pyserial."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import serial

from harness.exceptions import ConfigError
from harness.sim.modem import TEST_FORMS, ModemSimulation, load_modem

MODEM_FILE = Path(__file__).parents[2] / "fixtures" / "devices" / "modem.toml"


class Port:
    """Sends one command, returns its answer lines up to and with the final result."""

    FINALS = (b"OK", b"ERROR", b"+CME ERROR:", b"+CMS ERROR:")

    def __init__(self, url: str) -> None:
        self.serial = serial.serial_for_url(url, timeout=2)

    def __call__(self, command: str) -> list[str]:
        self.serial.write(f"AT{command}\r".encode())
        lines: list[str] = []
        while True:
            raw = self.serial.read_until(b"\r\n")
            assert raw.endswith(b"\r\n"), (command, lines, raw)
            line = raw.strip()
            if not line or line.startswith((b"^", b"RDY", b"+CMTI:")):
                continue
            lines.append(line.decode())
            if line.startswith(self.FINALS):
                return lines


def _start(path: Path) -> tuple[ModemSimulation, Port]:
    """Without the file's incoming SMS: each test delivers its own."""
    sim = ModemSimulation(replace(load_modem(path), incoming=()))
    sim.serve("pty")
    port = Port(sim.url)
    sim.start()
    port("E0")
    return sim, port


@pytest.fixture
def modem() -> Iterator[tuple[ModemSimulation, Port]]:
    sim, port = _start(MODEM_FILE)
    yield sim, port
    port.serial.close()
    sim.close()


def test_every_command_answers_its_test_form(modem: tuple[ModemSimulation, Port]) -> None:
    _, at = modem
    for name, line in TEST_FORMS.items():
        answer = at(f"{name}=?")
        assert answer[-1] == "OK", (name, answer)
        if line is not None:
            assert answer[0] == line
    listed = at("+CLAC")
    assert {"AT+CSCA", "AT+CPMS", "AT+CMGL", "AT+CNMI", "AT+CFUN", "AT+CMGS"} <= set(listed)


def test_errors_follow_cmee(modem: tuple[ModemSimulation, Port]) -> None:
    _, at = modem
    assert at("+CMGR=9") == ["+CMS ERROR: 321"]
    assert at('+CSCS="KOI8"') == ["ERROR"]
    at("+CMEE=1")
    assert at('+CSCS="KOI8"') == ["+CME ERROR: 4"]
    at("+CMEE=2")
    assert at('+CSCS="KOI8"') == ["+CME ERROR: operation not supported"]
    assert at("+CMGR=9") == ["+CMS ERROR: invalid memory index"]
    assert at("+CMEE?") == ["+CMEE: 2", "OK"]


def test_service_centre_storage_and_settings(modem: tuple[ModemSimulation, Port]) -> None:
    _, at = modem
    assert at("+CSCA?") == ['+CSCA: "+4917010000000",145', "OK"]
    assert at('+CSCA="+4917012345678",145') == ["OK"]
    assert at("+CSCA?") == ['+CSCA: "+4917012345678",145', "OK"]
    assert at("+CPMS?") == ['+CPMS: "SM",0,30,"SM",0,30,"SM",0,30', "OK"]
    assert at('+CPMS="ME","ME","ME"') == ["+CPMS: 0,100,0,100,0,100", "OK"]
    assert at('+CSCS="UCS2"') == ["OK"]
    assert at("+CSCS?") == ['+CSCS: "UCS2"', "OK"]
    for command in ("+CLIP=1", "+CRC=1", "+CVHU=0", "+CNMI=2,1,0,2", "+CSMP=49,167,0,0"):
        assert at(command) == ["OK"], command
    assert at("+CNMI?") == ["+CNMI: 2,1,0,2,0", "OK"]
    assert at("+CNMI=2,2,0,0,0") == ["+CMS ERROR: 303"]  # +CMT routing is not simulated


def test_received_messages_listed_read_and_deleted(modem: tuple[ModemSimulation, Port]) -> None:
    sim, at = modem
    at("+CMGF=1")
    at("+CNMI=0,0,0,0,0")  # stored silently
    sim.deliver_sms("+4930111", "first")
    sim.deliver_sms("+4930222", "second")
    assert at("+CMGR=1")[1] == "first"
    listed = at('+CMGL="REC UNREAD"')
    assert listed[0].startswith('+CMGL: 2,"REC UNREAD","+4930222",,"')
    assert listed[1:] == ["second", "OK"]
    assert at('+CMGL="REC UNREAD"') == ["OK"]  # listing marked it read
    assert len(at('+CMGL="ALL"')) == 5
    at("+CMGF=0")
    pdu_list = at("+CMGL=4")
    assert pdu_list[0].startswith("+CMGL: 1,1,,")
    assert pdu_list[-1] == "OK"
    assert at("+CMGD=1") == ["OK"]
    assert at("+CMGD=1") == ["+CMS ERROR: 321"]
    assert at("+CMGD=1,4") == ["OK"]
    assert sim.storage["SM"] == {}


def test_cmti_names_the_receive_memory(modem: tuple[ModemSimulation, Port]) -> None:
    sim, at = modem
    at('+CPMS="SM","SM","ME"')
    sim.deliver_sms("+4930111", "into the modem memory")
    line = b""
    while not line.startswith(b"+CMTI:"):
        line = at.serial.read_until(b"\r\n").strip()
    assert line == b'+CMTI: "ME",1'


def test_sim_pin(tmp_path: Path) -> None:
    path = tmp_path / "modem.toml"
    path.write_text(MODEM_FILE.read_text().replace('# pin = "1234"', 'pin = "1234"'))
    sim, at = _start(path)
    try:
        at("+CMEE=1")
        assert at("+CPIN?") == ["+CPIN: SIM PIN", "OK"]
        assert at("+CIMI") == ["+CME ERROR: 11"]
        assert at('+CMGS="+49301"') == ["+CME ERROR: 11"]
        assert at('+CPIN="0000"') == ["+CME ERROR: 16"]
        assert not sim.registered
        assert at('+CPIN="1234"') == ["OK"]
        assert at("+CPIN?") == ["+CPIN: READY", "OK"]
        assert at("+CIMI") == ["262011234567890", "OK"]
        assert at('+CPIN="1234"') == ["+CME ERROR: 3"]
    finally:
        at.serial.close()
        sim.close()


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ('[modem]\npin = "12a4"', "modem.pin", "expected digits"),
        ('[modem]\nsmsc = "centre"', "modem.smsc", "expected digits"),
        ('[[modem.urc]]\nline = "^RSSI: {level}"\nevery_ms = 5', "modem.urc[0].line",
         "{rssi} and {stat}"),
        ('[[modem.urc]]\nline = "^BOOT"', "modem.urc[0].every_ms", "> 0"),
    ],
)  # fmt: skip
def test_new_modem_keys_are_checked(tmp_path: Path, text: str, key: str, problem: str) -> None:
    path = tmp_path / "modem.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_modem(path)
    assert info.value.key == key
    assert problem in info.value.problem
