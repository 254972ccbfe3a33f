"""The simulated modem driven by an independent modem library: python-gsmmodem-new's
``GsmModem`` on the simulation's pseudo-terminal, as a user's own modem script would.

``connect()`` runs that library's whole initialisation (ATZ, ATE0, +CFUN?, +CMEE=1,
+CPIN?, +CLAC, +COPS=3,0, +CMGF, +CSCA?, +CSMP, +CPMS=?, +CPMS=..., +CNMI, +CLIP,
+CRC, +CVHU); any command the simulation got wrong would raise there.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gsmmodem.exceptions import PinRequiredError  # type: ignore[import-untyped]
from gsmmodem.modem import GsmModem  # type: ignore[import-untyped]

from harness.sim.modem import ModemSimulation, load_modem

MODEM_FILE = Path(__file__).parents[2] / "fixtures" / "devices" / "modem.toml"
TIMEOUT = 10.0


def _simulation(path: Path) -> ModemSimulation:
    sim = ModemSimulation(load_modem(path), "modem")
    sim.serve("pty")
    sim.start()
    return sim


@pytest.fixture
def sim() -> Iterator[ModemSimulation]:
    simulation = _simulation(MODEM_FILE)
    yield simulation
    simulation.close()


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.arrived = threading.Event()

    def __call__(self, sms: Any) -> None:
        self.messages.append(sms)
        self.arrived.set()


@pytest.fixture
def connected(sim: ModemSimulation) -> Iterator[tuple[GsmModem, _Inbox]]:
    inbox = _Inbox()
    modem = GsmModem(sim.url, 115200, smsReceivedCallbackFunc=inbox)
    modem.connect()
    yield modem, inbox
    modem.close()


def test_connect_then_identity_signal_and_network(
    sim: ModemSimulation, connected: tuple[GsmModem, _Inbox]
) -> None:
    modem, _ = connected
    assert modem.waitForNetworkCoverage(TIMEOUT) == 21
    assert modem.signalStrength == 21
    assert modem.networkName == "SIM Mobile"
    assert modem.imei == "356938035643809"
    assert modem.imsi == "262011234567890"
    assert modem.manufacturer == "ecu-harness"
    assert modem.smsc == "+4917010000000"
    assert modem.ownNumber == "+4917099887766"
    for command in ("+CSCA?", "+CPMS=?", "+CNMI=2,1,0,2", "+CLIP=1", "+CRC=1", "+CVHU=0"):
        assert command in sim.commands


@pytest.mark.parametrize("text_mode", [True, False], ids=["text", "pdu"])
def test_send_sms(
    sim: ModemSimulation, connected: tuple[GsmModem, _Inbox], text_mode: bool
) -> None:
    modem, _ = connected
    modem.waitForNetworkCoverage(TIMEOUT)
    modem.smsTextMode = text_mode
    sent = modem.sendSms("+4915112345678", "Hello from gsmmodem")
    assert sim.sent[-1].reference == sent.reference
    assert sim.sent[-1].number.lstrip("+") == "4915112345678"
    assert sim.sent[-1].text == "Hello from gsmmodem"
    assert (sim.sent[-1].pdu is None) == text_mode


@pytest.mark.parametrize("text_mode", [True, False], ids=["text", "pdu"])
def test_receive_sms_through_callback(
    sim: ModemSimulation, connected: tuple[GsmModem, _Inbox], text_mode: bool
) -> None:
    modem, inbox = connected
    modem.waitForNetworkCoverage(TIMEOUT)
    inbox.arrived.wait(TIMEOUT)  # the network's welcome SMS (modem.toml) comes first
    inbox.arrived.clear()
    inbox.messages.clear()
    modem.smsTextMode = text_mode
    sim.deliver_sms("+4930999888", "Door unlocked at 12:00")
    assert inbox.arrived.wait(TIMEOUT)
    (sms,) = inbox.messages
    assert sms.number.lstrip("+") == "4930999888"
    assert sms.text == "Door unlocked at 12:00"
    # the library deletes what its callback took: nothing is left in the SIM
    assert modem.listStoredSms(memory="SM") == []


def test_stored_messages_listed(sim: ModemSimulation, connected: tuple[GsmModem, _Inbox]) -> None:
    modem, inbox = connected
    modem.waitForNetworkCoverage(TIMEOUT)
    inbox.arrived.wait(TIMEOUT)
    sim.state.cnmi = "2,0,0,0,0"  # store silently: the library must list them itself
    sim.deliver_sms("+4930111", "first")
    sim.deliver_sms("+4930222", "second")
    listed = modem.listStoredSms(delete=True)
    assert [(m.number.lstrip("+"), m.text) for m in listed] == [
        ("4930111", "first"),
        ("4930222", "second"),
    ]
    assert modem.listStoredSms() == []


def _pin_modem(tmp_path: Path) -> Path:
    text = MODEM_FILE.read_text().replace('# pin = "1234"', 'pin = "1234"')
    path = tmp_path / "modem-pin.toml"
    path.write_text(text)
    return path


def test_sim_pin_entered_by_the_library(tmp_path: Path) -> None:
    sim = _simulation(_pin_modem(tmp_path))
    try:
        modem = GsmModem(sim.url, 115200)
        with pytest.raises(PinRequiredError):
            modem.connect()
        modem.close()
        assert not sim.registered
        modem = GsmModem(sim.url, 115200)
        modem.connect(pin="1234")
        assert modem.waitForNetworkCoverage(TIMEOUT) == 21
        assert '+CPIN="1234"' in sim.commands
        modem.close()
    finally:
        sim.close()


def test_vendor_urcs_do_not_disturb_the_library(tmp_path: Path) -> None:
    text = MODEM_FILE.read_text().replace(
        '# [[modem.urc]]\n# line = "^RSSI: {rssi}"\n# every_ms = 2000',
        '[[modem.urc]]\nline = "^RSSI: {rssi}"\nevery_ms = 500',  # a few during the test
    )
    path = tmp_path / "modem-huawei.toml"
    path.write_text(text)
    sim = _simulation(path)
    try:
        modem = GsmModem(sim.url, 115200)
        modem.connect()
        assert modem.waitForNetworkCoverage(TIMEOUT) == 21
        assert modem.imei == "356938035643809"
        assert modem.networkName == "SIM Mobile"
        modem.close()
    finally:
        sim.close()
