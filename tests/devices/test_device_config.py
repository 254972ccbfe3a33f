"""The bench file's [serial.NAME] and [power] tables: what loads, and every mistake named."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import load_bench
from harness.exceptions import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def bench(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bench.toml"
    path.write_text('[bench]\nname = "b"\n' + text)
    return path


def test_a_full_device_section(tmp_path: Path) -> None:
    (tmp_path / "psu.toml").write_text("")
    path = bench(
        tmp_path,
        """
[serial.modem]
kind = "modem"
port = "/dev/ttyUSB2"
baudrate = 9600
bytesize = 7
parity = "even"
stopbits = 2
line_ending = "CRLF"
timeout = 3
command_timeouts = { "+COPS=?" = 200, "+CMGS" = 30 }
urc_patterns = ['\\+WIND:', '\\+STIN:']
options = { dsrdtr = true }

[serial.psu]
kind = "power"
simulation = "psu.toml"
transport = "socket"

[power]
channel = 2
voltage = 13.5
current_limit = 4
off_time = 0.5
switch_on = false
""",
    )
    devices = load_bench(path)
    modem = devices.serial["modem"]
    assert (modem.url, modem.baudrate, modem.bytesize, modem.parity, modem.stopbits) == (
        "/dev/ttyUSB2", 9600, 7, "E", 2,
    )  # fmt: skip
    assert modem.line_ending == "\r\n"
    assert modem.command_timeouts == {"+COPS=?": 200.0, "+CMGS": 30.0}
    assert modem.urc_patterns == (r"\+WIND:", r"\+STIN:")
    assert modem.serial_kwargs()["dsrdtr"] is True
    psu = devices.serial["psu"]
    assert (psu.url, psu.simulation, psu.transport, psu.line_ending) == (
        None, tmp_path / "psu.toml", "socket", "\n",
    )  # fmt: skip
    power = devices.power
    assert power is not None
    assert (power.serial, power.channel, power.voltage, power.current_limit) == ("psu", 2, 13.5, 4)
    assert (power.off_time, power.switch_on) == (0.5, False)


def test_defaults_by_kind(tmp_path: Path) -> None:
    path = bench(tmp_path, '[serial.c]\nkind = "console"\nurl = "loop://"\n')
    console = load_bench(path).serial["c"]
    assert (console.baudrate, console.parity, console.line_ending, console.timeout) == (
        115200, "N", "\r\n", 5.0,
    )  # fmt: skip


def test_the_virtual_bench_has_simulated_devices() -> None:
    devices = load_bench(ROOT / "fixtures" / "benches" / "virtual.toml")
    assert {d.kind for d in devices.serial.values()} == {"console", "modem", "power"}
    assert all(d.simulation is not None for d in devices.serial.values())
    assert devices.power is not None
    assert devices.power.serial == "psu"


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ('[serial.m]\nkind = "modme"\nurl = "loop://"', "serial.m.kind", "did you mean 'modem'"),
        ('[serial.m]\nurl = "loop://"', "serial.m.kind", "missing"),
        ('[serial.m]\nkind = "modem"', "serial.m", "give url (a pyserial URL) or port"),
        ('[serial.m]\nkind = "modem"\nurl = "loop://"\nport = "COM3"', "serial.m.port", "not both"),
        ('[serial.m]\nkind = "modem"\nurl = "loop://"\nbaudrat = 9600', "serial.m.baudrat",
         "unknown key (did you mean 'baudrate'?)"),
        ('[serial.m]\nkind = "modem"\nurl = "loop://"\nparity = "evn"', "serial.m.parity",
         "did you mean 'even'"),
        ('[serial.m]\nkind = "modem"\nurl = "loop://"\nstopbits = 3', "serial.m.stopbits",
         "expected 1, 1.5 or 2"),
        ('[serial.m]\nkind = "modem"\nurl = "loop://"\nbytesize = 9', "serial.m.bytesize",
         "expected 5, 6, 7 or 8"),
        ('[serial.m]\nkind = "modem"\nurl = "loop://"\nline_ending = "CRCR"',
         "serial.m.line_ending", "expected CR, LF, CRLF"),
        ('[serial.m]\nkind = "modem"\nurl = "loop://"\nencoding = "klingon"', "serial.m.encoding",
         "unknown encoding"),
        ('[serial.m]\nkind = "modem"\nurl = "loop://"\ntimeout = 0', "serial.m.timeout",
         "more than 0"),
        ('[serial.m]\nkind = "modem"\nurl = "loop://"\ntransport = "pty"', "serial.m.transport",
         "only for simulated devices"),
        ('[serial.m]\nkind = "modem"\nsimulation = "nope.toml"', "serial.m.simulation",
         "simulation file not found"),
        ('[serial.c]\nkind = "console"\nurl = "loop://"\ncommand_timeouts = { "+CSQ" = 1 }',
         "serial.c.command_timeouts", "only for modems"),
        ('[serial.m]\nkind = "modem"\nurl = "loop://"\ncommand_timeouts = { "+CSQ" = "x" }',
         "serial.m.command_timeouts.+CSQ", "expected a number"),
        ('[serial.c]\nkind = "console"\nurl = "loop://"\nurc_patterns = ["x"]',
         "serial.c.urc_patterns", "only for modems"),
        ('[serial.m]\nkind = "modem"\nurl = "loop://"\nurc_patterns = ["+WIND:"]',
         "serial.m.urc_patterns", "is not a regular expression"),
        ('[power]\nvoltage = 12', "power.serial", "the bench has none"),
        ('[serial.p]\nkind = "power"\nurl = "loop://"\n[power]\nserial = "q"', "power.serial",
         "no [serial.q] in this bench"),
        ('[serial.c]\nkind = "console"\nurl = "loop://"\n[power]\nserial = "c"', "power.serial",
         "has kind 'console', not 'power'"),
        ('[power]\nresource = "TCPIP::h::5025::SOCKET"\nvoltag = 12', "power.voltag",
         "did you mean 'voltage'"),
        ('[power]\nresource = "TCPIP::h::5025::SOCKET"\nvoltage = -1', "power.voltage",
         "expected a number >= 0"),
    ],
)  # fmt: skip
def test_mistakes_name_the_file_and_key(tmp_path: Path, text: str, key: str, problem: str) -> None:
    path = bench(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_bench(path)
    assert info.value.source == str(path)
    assert info.value.key == key
    assert problem in info.value.problem


def test_overrides_reach_the_device_tables(tmp_path: Path) -> None:
    path = bench(tmp_path, '[serial.m]\nkind = "modem"\nurl = "loop://"\n')
    config = load_bench(path, ["serial.m.baudrate=9600", "serial.m.url=socket://127.0.0.1:7"])
    modem = config.serial["m"]
    assert (modem.baudrate, modem.url) == (9600, "socket://127.0.0.1:7")


MODEM_FILE = ROOT / "fixtures" / "devices" / "modem.toml"
CONSOLE_FILE = ROOT / "fixtures" / "devices" / "console.toml"
CAN_BODY = '[can.body]\ninterface = "virtual"\nchannel = "x"\n'


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        (f'[serial.m]\nkind = "modem"\nsimulation = "{MODEM_FILE}"\nfaults = ["no_anser"]',
         "serial.m.faults", "modem.toml has no fault 'no_anser' (did you mean 'no_answer'"),
        ('[serial.m]\nkind = "modem"\nurl = "loop://"\nfaults = ["no_answer"]',
         "serial.m.faults", "only for simulated devices"),
        (f'[serial.c]\nkind = "console"\nsimulation = "{CONSOLE_FILE}"\nfaults = ["x"]',
         "serial.c.faults", "faults: none"),
        (f'[serial.m]\nkind = "modem"\nsimulation = "{MODEM_FILE}"\nfaults = "no_answer"',
         "serial.m.faults", "a list of strings"),
        ('[serial.m]\nkind = "modem"\nurl = "loop://"\ncan = "body"\nnode = "TCU"',
         "serial.m.can", "no [can.body] in this bench; CAN channels: none"),
        (CAN_BODY + '[serial.m]\nkind = "modem"\nurl = "loop://"\ncan = "bdy"\nnode = "TCU"',
         "serial.m.can", "did you mean 'body'"),
        (CAN_BODY + '[serial.m]\nkind = "modem"\nurl = "loop://"\ncan = "body"',
         "serial.m.node", "give can (a CAN channel) and node (a DBC node) together"),
    ],
)  # fmt: skip
def test_device_faults_and_ecu_mistakes(tmp_path: Path, text: str, key: str, problem: str) -> None:
    path = bench(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_bench(path)
    assert (info.value.source, info.value.key) == (str(path), key)
    assert problem in info.value.problem


def test_device_faults_and_the_ecu_load(tmp_path: Path) -> None:
    path = bench(
        tmp_path,
        '[can.body]\ninterface = "virtual"\nchannel = "x"\n'
        f'[serial.m]\nkind = "modem"\nsimulation = "{MODEM_FILE}"\ncan = "body"\nnode = "TCU"\n'
        'faults = ["garbage", "no_answer", "garbage"]\n',
    )
    modem = load_bench(path).serial["m"]
    assert (modem.can, modem.node, modem.faults) == ("body", "TCU", ("garbage", "no_answer"))


def test_a_bench_set_override_switches_a_device_fault_on() -> None:
    virtual = ROOT / "fixtures" / "benches" / "virtual.toml"
    config = load_bench(virtual, ['serial.modem.faults=["no_answer"]'])
    assert config.serial["modem"].faults == ("no_answer",)
    with pytest.raises(ConfigError, match="did you mean 'reboot'"):
        load_bench(virtual, ['serial.modem.faults=["rebot"]'])
