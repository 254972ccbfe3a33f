"""``harness simulate`` serves the bench's serial simulations to other processes: pyserial's
miniterm talks AT to the simulated modem, and PyVISA in a third process drives the supply."""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from clitools import harness_script, script_env

from harness import clock

VIRTUAL = Path(__file__).resolve().parents[2] / "fixtures" / "benches" / "virtual.toml"
ENDPOINT = re.compile(r"^serial (\w+) (\S+)$", re.MULTILINE)


@pytest.fixture(scope="module")
def simulate() -> Iterator[tuple[dict[str, str], str]]:
    """``harness simulate`` on the virtual bench: its serial endpoints and what it printed."""
    process = subprocess.Popen(
        [str(harness_script()), "simulate", "--bench", str(VIRTUAL), "--report-every", "600"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=script_env(),
    )
    assert process.stdout is not None
    head: list[str] = []
    while not head or not (head[-1].startswith("ready") or head[-1] == ""):
        head.append(process.stdout.readline())  # ends when the process does
    output = "".join(head)
    try:
        assert head[-1].startswith("ready"), output
        yield dict(ENDPOINT.findall(output)), output
    finally:
        process.send_signal(signal.SIGINT)
        try:
            rest, _ = process.communicate(timeout=30)
        finally:
            process.kill()
    assert process.returncode == 0, output + rest


def read_until(fd: int, wanted: bytes, timeout: float = 10.0) -> bytes:
    """What arrives on ``fd`` until ``wanted`` has (waiting on the descriptor, no polling)."""
    data = b""
    deadline = clock.now() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while wanted not in data:
            left = deadline - clock.now()
            assert selector.select(max(left, 0)), f"waited for {wanted!r}, got {data!r}"
            try:
                data += os.read(fd, 4096)
            except OSError:  # the terminal program ended
                break
    assert wanted in data, data
    return data


def test_every_serial_simulation_is_printed_before_ready(
    simulate: tuple[dict[str, str], str],
) -> None:
    endpoints, output = simulate
    assert set(endpoints) == {"console", "modem", "psu"}
    assert endpoints["modem"].startswith("/dev/pts/")
    assert re.fullmatch(r"socket://127\.0\.0\.1:\d+", endpoints["psu"])  # transport = "socket"
    assert output.index("serial modem") < output.index("ready")


def test_miniterm_gets_ok_to_at_from_the_simulated_modem(
    simulate: tuple[dict[str, str], str],
) -> None:
    endpoints, _ = simulate
    master, slave = os.openpty()  # miniterm wants a terminal, as a user's would be
    miniterm = subprocess.Popen(
        [sys.executable, "-m", "serial.tools.miniterm", endpoints["modem"], "115200"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        close_fds=True,
    )
    os.close(slave)
    try:
        read_until(master, b"Quit: Ctrl+]")  # its banner: it has opened the port
        os.write(master, b"AT\r")  # Enter: miniterm sends AT CR LF
        read_until(master, b"OK")
        os.write(master, b"AT+CGSN\r")
        assert re.search(rb"\d{15}", read_until(master, b"OK"))  # the IMEI
        os.write(master, b"\x1d")  # Ctrl+]: miniterm quits
        assert miniterm.wait(timeout=10) == 0
    finally:
        miniterm.kill()
        os.close(master)


PYVISA_CLIENT = """
import sys, pyvisa
host, port = sys.argv[1].removeprefix("socket://").rsplit(":", 1)
rm = pyvisa.ResourceManager("@py")
psu = rm.open_resource(f"TCPIP::{host}::{port}::SOCKET", read_termination="\\n",
                       write_termination="\\n", timeout=5000)
print(psu.query("*IDN?"))
print(psu.query("OUTP?;VOLT?;:MEAS:VOLT?;CURR?"))
psu.write("*CLS;VOLT 99")  # PON cleared, then an execution error
print(psu.query("*ESR?;:SYST:ERR?"))
psu.close()
"""


def test_a_second_process_drives_the_simulated_supply_with_pyvisa(
    simulate: tuple[dict[str, str], str],
) -> None:
    endpoints, _ = simulate
    done = subprocess.run(
        [sys.executable, "-c", PYVISA_CLIENT, endpoints["psu"]],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    idn, levels, error = done.stdout.splitlines()
    assert idn == "ecu-harness,SIM-PSU-1,SN0001,1.0"
    assert levels == "1;13.500;13.500;0.350"  # the bench switched it on at 13.5 V; DUT runs
    assert error == '16;-222,"Data out of range"'
