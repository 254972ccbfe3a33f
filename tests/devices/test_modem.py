"""The AT-command modem driver against the simulated modem and a scripted peer, over a pty."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness import clock
from harness.devices.config import SerialDeviceConfig
from harness.devices.log import SerialLog
from harness.devices.modem import Modem, parse_fields, registration_urc_shaped
from harness.exceptions import DeviceError, DeviceTimeoutError, ModemError
from harness.sim.modem import ModemSimulation, deliver_pdu, load_modem

MODEM_FILE = Path(__file__).resolve().parents[2] / "fixtures" / "devices" / "modem.toml"


@pytest.fixture
def sim() -> Iterator[ModemSimulation]:
    with ModemSimulation(load_modem(MODEM_FILE)) as simulation:
        simulation.serve("pty")
        yield simulation


@pytest.fixture
def modem(
    sim: ModemSimulation, make_config: Callable[..., SerialDeviceConfig], traffic_log: SerialLog
) -> Iterator[Modem]:
    with Modem.open(make_config("modem", sim.url, timeout=1.0), traffic_log) as opened:
        sim.start()
        opened.wait_urc("RDY", since=0)
        yield opened


@pytest.fixture
def scripted(peer: object, make_config: Callable[..., SerialDeviceConfig]) -> Iterator[Modem]:
    with Modem.open(make_config("modem", peer.link.url, timeout=1.0)) as opened:  # type: ignore[attr-defined]
        yield opened


def answer(peer: object, command: bytes, reply: bytes) -> None:
    """Make the scripted peer answer ``command`` (once) with ``reply``."""

    def on_input(data: bytes) -> None:
        if command in peer.received:  # type: ignore[attr-defined]
            peer.on_input = None  # type: ignore[attr-defined]
            peer.write(reply)  # type: ignore[attr-defined]

    peer.on_input = on_input  # type: ignore[attr-defined]


def test_identity_with_echo_on(modem: Modem, sim: ModemSimulation) -> None:
    identity = modem.identity()
    assert identity.manufacturer == "ecu-harness"
    assert identity.model == "SIM-LTE-1"
    assert identity.imei == "356938035643809"
    assert identity.imsi == "262011234567890"
    assert modem.echo is True
    assert sim.commands[:2] == ["+CIMI", "+CGMI"]


def test_echo_off(modem: Modem, sim: ModemSimulation) -> None:
    modem.set_echo(False)
    assert modem.command("+CGMM").value() == "SIM-LTE-1"
    assert sim.state.echo is False


def test_registration_signal_and_text_sms(modem: Modem, sim: ModemSimulation) -> None:
    registration = modem.wait_registered(timeout=3)
    assert registration.registered
    assert (registration.lac, registration.ci, registration.act) == ("00C3", "0000A13F", 7)
    assert modem.registration().registered
    quality = modem.signal()
    assert (quality.rssi, quality.dbm) == (21, -71)
    reference = modem.send_sms("+491701234567", "Door unlock test passed")
    assert sim.sent[-1].number == "+491701234567"
    assert sim.sent[-1].text == "Door unlock test passed"
    assert sim.sent[-1].reference == reference


def test_pdu_mode_sms(modem: Modem, sim: ModemSimulation) -> None:
    modem.wait_registered(timeout=3)
    references = modem.send_sms_pdu("+491701234567", "PDU mode: 7-bit text")
    assert len(references) == 1
    assert (sim.sent[-1].number, sim.sent[-1].text) == ("+491701234567", "PDU mode: 7-bit text")
    assert sim.sent[-1].pdu is not None


def test_incoming_sms_in_text_and_pdu_mode(modem: Modem, sim: ModemSimulation) -> None:
    since = modem.urc_mark()
    modem.wait_registered(timeout=3)
    sms = modem.wait_sms(timeout=3, since=since)
    assert (sms.sender, sms.text, sms.status) == (
        "+4930123456",
        "Welcome to SIM Mobile",
        "REC UNREAD",
    )
    index = sim.deliver_sms("+4915112345678", "second")
    again = modem.read_sms(index, pdu=True)
    assert (again.sender, again.text, again.status) == ("+4915112345678", "second", "REC UNREAD")
    modem.delete_sms(index)
    with pytest.raises(ModemError, match=r"\+CMS ERROR: 321 \(invalid memory index\)") as info:
        modem.read_sms(index)
    assert (info.value.kind, info.value.code) == ("CMS", 321)


def test_urcs_in_the_middle_of_a_response(modem: Modem, sim: ModemSimulation) -> None:
    modem.wait_registered(timeout=3)  # the stat in the injected +CREG stays what it is
    sim.fault_on("urc_in_response")
    since = modem.urc_mark()
    answer = modem.command("AT+CGMI")
    assert answer.lines == ("ecu-harness",)
    assert [u.line for u in modem.urcs_since(since)] == [f"+CREG: {sim.stat}", "RING"]
    assert modem.wait_urc("RING", since=since).line == "RING"


def test_a_creg_urc_during_a_creg_query_is_told_apart(scripted: Modem, peer: object) -> None:
    answer(
        peer,
        b"AT+CREG?\r",
        b'AT+CREG?\r\r\n+CREG: 1,"00C3","A13F",7\r\n+CREG: 2,1,"00C3","A13F",7\r\n\r\nOK\r\n',
    )
    since = scripted.urc_mark()
    registration = scripted.registration()
    assert (registration.stat, registration.lac) == (1, "00C3")
    assert [u.line for u in scripted.urcs_since(since)] == ['+CREG: 1,"00C3","A13F",7']
    assert registration_urc_shaped('+CREG: 5,"00C3","A13F",7')
    assert not registration_urc_shaped("+CREG: 0,1")


def test_partial_lines_and_double_cr(scripted: Modem, peer: object) -> None:
    def on_input(data: bytes) -> None:
        peer.on_input = None  # type: ignore[attr-defined]
        for chunk in (b"\r\r\n+CS", b"Q: 2", b"1,99\r", b"\r\n\r\r\nO", b"K\r\r\n"):
            peer.write(chunk)  # type: ignore[attr-defined]

    peer.on_input = on_input  # type: ignore[attr-defined]
    assert scripted.signal().rssi == 21


def test_double_cr_fault_of_the_simulation(modem: Modem, sim: ModemSimulation) -> None:
    sim.fault_on("double_cr")
    assert modem.command("AT+CGMR").value() == "SIM-LTE-1_R01A01"


def test_garbage_bytes_are_set_aside(modem: Modem, sim: ModemSimulation) -> None:
    sim.fault_on("garbage")
    assert modem.command("AT+CGSN").value() == "356938035643809"
    assert modem.noise


def test_missing_final_ok(modem: Modem, sim: ModemSimulation) -> None:
    sim.fault_on("no_final_ok")
    with pytest.raises(DeviceTimeoutError, match="no final result within 0.3 s"):
        modem.command("AT+CGSN", timeout=0.3)
    answer = modem.command("AT+CGSN", final_optional=True)  # returns FINAL_GRACE after the line
    assert (answer.value(), answer.final) == ("356938035643809", None)


def test_identity_tolerates_a_missing_final_ok(modem: Modem, sim: ModemSimulation) -> None:
    sim.fault_on("no_final_ok")  # a quirk of real firmware: identity() must not time out
    identity = modem.identity()
    assert (identity.imei, identity.model) == ("356938035643809", "SIM-LTE-1")
    sim.fault_on("sim_failure")  # an error result still ends the IMSI query as an error
    assert modem.identity().imsi is None


def test_no_answer_times_out_with_evidence_and_the_modem_recovers(
    modem: Modem, sim: ModemSimulation
) -> None:
    sim.fault_on("no_answer")
    start = clock.now()
    with pytest.raises(DeviceTimeoutError) as info:
        modem.command("AT+CSQ", timeout=0.3)
    assert 0.3 <= clock.now() - start < 3.0  # bounded; generous for a busy CI machine
    message = str(info.value)
    assert "modem (/dev/" in message
    assert "AT+CSQ: no final result within 0.3 s" in message
    assert "AT+CSQ" in message.split("received since sending it:")[1]  # the echo, as evidence
    sim.fault_off("no_answer")
    assert modem.signal().ber == 99


def test_per_command_timeouts_come_from_the_bench(
    sim: ModemSimulation, make_config: Callable[..., SerialDeviceConfig]
) -> None:
    config = make_config("modem", sim.url, timeout=1.0, command_timeouts={"+CSQ": 0.2})
    with Modem.open(config) as modem:
        sim.start()
        modem.wait_urc("RDY", since=0)
        sim.fault_on("no_answer")
        assert modem.timeout_for("AT+CSQ") == 0.2
        assert modem.timeout_for("AT+COPS=?") == 180
        with pytest.raises(DeviceTimeoutError, match="within 0.2 s"):
            modem.command("AT+CSQ")


def test_reboot_mid_command_is_a_clear_error(modem: Modem, sim: ModemSimulation) -> None:
    sim.fault_on("reboot")
    with pytest.raises(ModemError, match=r"restarted \(RDY\) while AT\+CSQ was running") as info:
        modem.command("AT+CSQ", timeout=2)
    assert info.value.kind == "reboot"
    sim.fault_off("reboot")
    modem.sync()
    assert sim.boots == 2


def test_reboot_while_sending_an_sms(modem: Modem, sim: ModemSimulation) -> None:
    modem.wait_registered(timeout=3)
    sim.fault_on("reboot_on_sms")
    with pytest.raises(ModemError, match="restarted") as info:
        modem.send_sms("+491701234567", "lost")
    assert info.value.kind == "reboot"
    assert sim.sent == []


def test_cme_and_cms_errors_carry_their_codes(modem: Modem, sim: ModemSimulation) -> None:
    modem.enable_error_codes()
    sim.fault_on("sim_failure")
    with pytest.raises(
        ModemError, match=r"AT\+CPIN\? failed: \+CME ERROR: 13 \(SIM failure\)"
    ) as info:
        modem.command("AT+CPIN?")
    assert (info.value.kind, info.value.code, info.value.command) == ("CME", 13, "AT+CPIN?")
    assert modem.identity().imsi is None
    modem.wait_registered(timeout=3)
    sim.fault_on("no_service")
    with pytest.raises(ModemError, match="331") as refused:
        modem.send_sms("+491701234567", "x")
    assert refused.value.code == 331


def test_plain_error(modem: Modem) -> None:
    with pytest.raises(ModemError, match=r"AT\+NOSUCH failed: ERROR") as info:
        modem.command("+NOSUCH")
    assert (info.value.kind, info.value.code) == ("ERROR", None)


def test_a_port_that_disappears_mid_command(scripted: Modem, peer: object) -> None:
    answer(peer, b"AT+CSQ\r", b"AT+CSQ\r\r\n+CSQ: ")  # half an answer, then the port is gone
    unplug = threading.Timer(0.1, peer.link.disconnect)  # type: ignore[attr-defined]
    unplug.start()
    start = clock.now()
    with pytest.raises(DeviceError, match="port disappeared") as info:
        scripted.command("AT+CSQ", timeout=5)
    unplug.join()
    assert not isinstance(info.value, TimeoutError)
    assert "+CSQ: " in str(info.value)  # what did arrive
    assert clock.now() - start < 4.0  # not the 5 s timeout
    with pytest.raises(DeviceError):
        scripted.command("AT")


def test_a_late_answer_before_the_echo_is_not_taken(scripted: Modem, peer: object) -> None:
    answer(peer, b"AT\r", b"AT\r\r\nOK\r\n")
    scripted.sync()
    assert scripted.echo is True
    answer(peer, b"AT+CSQ\r", b"\r\nOK\r\nAT+CSQ\r\r\n+CSQ: 9,99\r\n\r\nOK\r\n")  # "OK" is late
    assert scripted.signal().rssi == 9
    assert "OK" in scripted.stray


def test_socket_transport_from_another_process(sim: ModemSimulation) -> None:
    link = sim.serve("socket")
    sim.start()
    script = (
        "import serial, sys\n"
        "port = serial.serial_for_url(sys.argv[1], timeout=5)\n"
        "port.write(b'ATE0\\rAT+CGMM\\r')\n"
        "data = b''\n"
        "while data.count(b'OK') < 2:\n"
        "    chunk = port.read(1)\n"
        "    if not chunk: break\n"
        "    data += chunk\n"
        "print(data)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, link.url],
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    )
    assert "SIM-LTE-1" in result.stdout


def test_parse_fields() -> None:
    assert parse_fields('1,"a,b",,7') == ["1", "a,b", "", "7"]


def test_deliver_pdu_round_trips() -> None:
    from datetime import UTC, datetime

    from gsmmodem.pdu import decodeSmsPdu  # type: ignore[import-untyped]

    decoded = decodeSmsPdu(deliver_pdu("+4930123456", "hi there", datetime(2024, 5, 1, tzinfo=UTC)))
    assert (decoded["type"], decoded["number"], decoded["text"]) == (
        "SMS-DELIVER",
        "+4930123456",
        "hi there",
    )
