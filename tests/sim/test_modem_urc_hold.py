"""The simulated modem holds its periodic URCs while a command is unanswered and writes
them after the final result. Driven by hand: the URC falls due when the test says so
(the scheduler's own period is an hour), its bytes are taken from ``output``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from harness.sim.modem import ModemSimulation, load_modem

MODEM_FILE = Path(__file__).parents[2] / "fixtures" / "devices" / "modem.toml"


class Captured(ModemSimulation):
    """The simulation with its output kept as text instead of written to a link."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.written: list[str] = []

    def output(self, data: bytes | str) -> None:
        self.written.append(data if isinstance(data, str) else data.decode("latin-1"))

    def send(self, data: bytes) -> None:
        with self.lock:
            self.feed(data)

    def urc_due(self) -> None:
        """What the scheduler does when the ``^RSSI`` URC's period is over."""
        with self.lock:
            self._repeat(self.definition.urcs[0])

    def lines(self) -> list[str]:
        text, self.written = "".join(self.written), []
        return [line for line in text.splitlines() if line]


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Captured]:
    text = MODEM_FILE.read_text().replace(
        '# [[modem.urc]]\n# line = "^RSSI: {rssi}"\n# every_ms = 2000',
        '[[modem.urc]]\nline = "^RSSI: {rssi}"\nevery_ms = 3600000',
    )
    path = tmp_path / "modem.toml"
    path.write_text(text)
    modem = Captured(replace(load_modem(path), incoming=(), registration=()))
    modem.start()
    modem.send(b"ATE0\r")
    modem.lines()
    yield modem
    modem.close()


def test_a_urc_due_while_idle_goes_out_at_once(sim: Captured) -> None:
    sim.urc_due()
    assert sim.lines() == [f"^RSSI: {sim.reported_rssi}"]


def test_a_urc_due_mid_command_line_comes_after_the_final_result(sim: Captured) -> None:
    sim.send(b"AT+CG")
    sim.urc_due()
    assert sim.lines() == []
    sim.send(b"MI\r")
    assert sim.lines() == [sim.definition.manufacturer, "OK", f"^RSSI: {sim.reported_rssi}"]


def test_held_urcs_come_once_with_the_latest_value(sim: Captured) -> None:
    sim.send(b"AT+CS")
    sim.urc_due()
    sim.set_signal(7)
    sim.urc_due()
    sim.send(b"Q\r")
    answer = sim.lines()
    assert answer[-2:] == ["OK", f"^RSSI: {sim.reported_rssi}"]
    assert sum(line.startswith("^RSSI") for line in answer) == 1


def test_a_urc_due_while_the_sms_body_is_typed_follows_the_cmgs_result(sim: Captured) -> None:
    sim.set_registration(1)
    sim.send(b"AT+CMGF=1\r")
    sim.send(b'AT+CMGS="+491701234567"\r')
    assert sim.lines()[-1].startswith(">")
    sim.send(b"hello")
    sim.urc_due()
    assert sim.lines() == []  # echo is off
    sim.send(b"\x1a")
    reference = sim.sent[-1].reference
    assert sim.lines() == [f"+CMGS: {reference}", "OK", f"^RSSI: {sim.reported_rssi}"]
