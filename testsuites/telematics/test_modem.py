"""The TCU's cellular modem over its AT interface (3GPP TS 27.007 / 27.005).

Identity, SIM, network registration and its unsolicited result codes, signal quality,
SMS both ways, and recovery after a reset and a supply interruption. Runs on any bench
with a serial device of kind ``modem``; SMS tests need the SIM's own number
(``AT+CNUM``), since the modem sends to itself and so needs no second phone.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable

import pytest
from telematics_support import REGISTRATION_TIMEOUT, luhn_valid, wait_responsive

from harness import clock
from harness.devices.modem import Modem, Registration, Urc, parse_fields
from harness.devices.power import PowerSupply
from harness.exceptions import ModemError

SMS_TIMEOUT = 60.0
"""Seconds for an SMS to the modem's own number to come back (networks take seconds)."""
MCC_RANGES = ((1, 1), (200, 799))
"""Mobile country codes in use: 001 (test networks) and ITU-T E.212's 2xx..7xx."""


def _own_number(modem: Modem) -> str:
    """The SIM's own number (``AT+CNUM``, TS 27.007 7.1), or skip."""
    try:
        answer = modem.command("AT+CNUM")
    except ModemError as exc:
        pytest.skip(f"the modem cannot tell its own number (AT+CNUM: {exc})")
    for line in answer.lines:
        if line.upper().startswith("+CNUM:"):
            fields = parse_fields(line.partition(":")[2])
            if len(fields) > 1 and fields[1]:
                return fields[1]
    pytest.skip("the SIM stores no own number (AT+CNUM answered none); the SMS tests send to it")


def _stat(urc: Urc) -> int | None:
    fields = urc.fields
    return int(fields[0]) if fields and fields[0].isdigit() else None


# -- identity and SIM --------------------------------------------------------------


@pytest.mark.requirement(
    "TEL-001", clause="3GPP TS 27.007 5.1 +CGMI, 5.2 +CGMM, 5.3 +CGMR: identification text"
)
def test_manufacturer_model_and_revision(modem: Modem) -> None:
    wait_responsive(modem)
    identity = modem.identity()
    for what, key, value in (
        ("manufacturer (+CGMI)", "manufacturer", identity.manufacturer),
        ("model (+CGMM)", "model", identity.model),
        ("revision (+CGMR)", "revision", identity.revision),
    ):
        assert value is not None, f"no {what}: {identity.errors[key]}"
        assert value.strip(), f"empty {what}"
        assert value.isprintable(), f"{what} is not printable text: {value!r}"


@pytest.mark.requirement(
    "TEL-002",
    clause="3GPP TS 27.007 5.4 +CGSN; TS 23.003 6.2.1 IMEI: 14 digits and a Luhn check digit",
)
def test_imei_is_15_digits_with_a_valid_check_digit(modem: Modem) -> None:
    wait_responsive(modem)
    identity = modem.identity()
    imei = identity.imei
    assert imei is not None, f"no IMEI: {identity.errors['imei']}"
    assert re.fullmatch(r"\d{15}", imei), f"IMEI {imei!r} is not 15 digits"
    assert luhn_valid(imei), f"IMEI {imei}: the check digit {imei[-1]} fails the Luhn check"


@pytest.mark.requirement(
    "TEL-003",
    clause="3GPP TS 27.007 5.6 +CIMI; TS 23.003 2.2 IMSI: MCC (3 digits) + MNC + MSIN, 15 digits",
)
def test_imsi_is_15_digits_with_a_plausible_mcc(modem: Modem) -> None:
    wait_responsive(modem)
    modem.enable_error_codes()
    identity = modem.identity()
    imsi = identity.imsi
    assert imsi is not None, f"the modem could not read the IMSI: {identity.errors['imsi']}"
    assert re.fullmatch(r"\d{15}", imsi), f"IMSI {imsi!r} is not 15 digits"
    mcc = int(imsi[:3])
    assert any(low <= mcc <= high for low, high in MCC_RANGES), (
        f"IMSI {imsi}: MCC {imsi[:3]} is not a mobile country code in use (ITU-T E.212)"
    )


@pytest.mark.requirement("TEL-004", clause="3GPP TS 27.007 8.3 +CPIN?: READY (no PIN/PUK pending)")
def test_sim_is_ready(modem: Modem) -> None:
    wait_responsive(modem)
    modem.enable_error_codes()
    state = modem.command("AT+CPIN?").value("+CPIN:")
    assert state.upper() == "READY", f"SIM not ready: +CPIN: {state}"


# -- network registration ----------------------------------------------------------


@pytest.mark.requirement(
    "TEL-005",
    clause=f"3GPP TS 27.007 7.2 +CREG: registered (stat 1 or 5) within "
    f"{REGISTRATION_TIMEOUT:g} s of power-on",
)
def test_registers_after_power_up(
    modem: Modem, power: PowerSupply, record_figure: Callable[[str, float], None]
) -> None:
    cycle = power.power_cycle()
    wait_responsive(modem)
    remaining = REGISTRATION_TIMEOUT - (clock.now() - cycle.on_at)
    registration = modem.wait_registered(max(remaining, 0.1))
    took = clock.now() - cycle.on_at
    record_figure("registration_after_power_on_s", round(took, 3))
    assert registration.registered, f"not registered: {registration}"
    assert took <= REGISTRATION_TIMEOUT, f"registered {took:.1f} s after power-on"


@pytest.mark.requirement(
    "TEL-006",
    clause="3GPP TS 27.007 8.2 +CFUN=1,1 (reset the MT), then 7.2 +CREG: registered again",
)
def test_registers_again_after_a_reset(
    online: Modem, record_figure: Callable[[str, float], None]
) -> None:
    try:
        online.command("AT+CFUN=1,1", timeout=REGISTRATION_TIMEOUT)
    except ModemError as exc:
        if exc.kind != "reboot":  # restarting before its OK is allowed; refusing is not
            raise
    started = clock.now()
    wait_responsive(online)
    registration = online.wait_registered(REGISTRATION_TIMEOUT)
    record_figure("registration_after_reset_s", round(clock.now() - started, 3))
    assert registration.registered, f"not registered after the reset: {registration}"


@pytest.mark.requirement(
    "TEL-007",
    clause="3GPP TS 27.007 7.2 +CREG=2 and 10.1.22 +CEREG=2: the unsolicited codes follow "
    "7.3 +COPS=2/+COPS=0 and agree with the polled state",
)
def test_registration_urcs_agree_with_the_polled_state(network_restored: Modem) -> None:
    modem = network_restored
    technologies = ["CREG"]
    modem.command("AT+CREG=2")
    try:
        modem.command("AT+CEREG=2")
        technologies.append("CEREG")
    except ModemError:
        pass  # not an LTE modem: +CREG alone
    since = modem.urc_mark()
    modem.command("AT+COPS=2")
    for tech in technologies:
        lost = modem.wait_urc(
            f"+{tech}:", REGISTRATION_TIMEOUT, since=since, where=lambda u: _stat(u) not in (1, 5)
        )
        polled = modem.registration(tech)
        assert not polled.registered, f"+{tech}: URC said {lost.line!r}, AT+{tech}? {polled}"
        assert _stat(lost) == polled.stat, f"URC {lost.line!r} but AT+{tech}? says {polled}"

    since = modem.urc_mark()
    modem.command("AT+COPS=0")
    for tech in technologies:
        back = modem.wait_urc(
            f"+{tech}:", REGISTRATION_TIMEOUT, since=since, where=lambda u: _stat(u) in (1, 5)
        )
        polled = modem.registration(tech)
        latest = [u for u in modem.urcs_since(since, f"+{tech}:") if _stat(u) is not None][-1]
        assert polled.registered, f"URC {back.line!r} said registered, AT+{tech}? says {polled}"
        assert _stat(latest) == polled.stat, (
            f"the last URC {latest.line!r} disagrees with AT+{tech}? ({polled})"
        )
        if len(latest.fields) >= 3 and polled.lac is not None:
            assert latest.fields[1].upper() == polled.lac.upper(), (
                f"URC {latest.line!r}: area code differs from AT+{tech}? ({polled})"
            )


# -- signal quality ----------------------------------------------------------------


@pytest.mark.requirement(
    "TEL-008",
    clause="3GPP TS 27.007 8.5 +CSQ: rssi 0..31 (99 not known: a failure once registered), "
    "ber 0..7 or 99",
)
def test_signal_quality_is_known_once_registered(
    online: Modem, record_figure: Callable[[str, float], None]
) -> None:
    signal = online.signal()
    record_figure("rssi", signal.rssi)
    assert signal.rssi != 99, "+CSQ: rssi 99 (not known) although the modem is registered"
    assert 0 <= signal.rssi <= 31, f"+CSQ: rssi {signal.rssi} outside 0..31"
    assert 0 <= signal.ber <= 7 or signal.ber == 99, f"+CSQ: ber {signal.ber} outside 0..7, 99"


# -- SMS ----------------------------------------------------------------------------


@pytest.mark.requirement(
    "TEL-009",
    clause="3GPP TS 27.005 3.2.3 +CMGF=1, 3.5.1 +CMGS: sent, +CMGS: <mr> (0..255)",
)
def test_sms_send_returns_a_message_reference(online: Modem) -> None:
    number = _own_number(online)
    reference = online.send_sms(number, f"TEL-009 {secrets.token_hex(4)}", timeout=SMS_TIMEOUT)
    assert 0 <= reference <= 255, f"+CMGS: message reference {reference} outside 0..255"


@pytest.mark.requirement(
    "TEL-010",
    clause="3GPP TS 27.005 3.4.1 +CNMI=2,1: +CMTI on arrival; 3.4.3 +CMGR reads it back",
)
def test_sms_receive_announces_and_reads_the_message(online: Modem) -> None:
    number = _own_number(online)
    online.command("AT+CNMI=2,1,0,0,0")
    text = f"TEL-010 {secrets.token_hex(4)}"
    since = online.urc_mark()
    online.send_sms(number, text, timeout=SMS_TIMEOUT)
    deadline = clock.Deadline(SMS_TIMEOUT)
    arrived = []
    while True:  # other messages (the network's) may arrive first: read each +CMTI in turn
        urc = online.wait_urc("+CMTI:", deadline.remaining(), since=since)
        since = urc.seq + 1
        message = online.read_sms(int(urc.fields[1]))
        online.delete_sms(message.index)
        arrived.append(message.text)
        if message.text == text:
            break
        assert deadline.remaining() > 0, f"never got {text!r}; got {arrived}"
    assert message.status.upper() == "REC UNREAD", f"a new message read as {message.status!r}"
    assert message.sender.lstrip("+") == number.lstrip("+"), (
        f"sender {message.sender!r}, expected {number!r}"
    )


# -- recovery -----------------------------------------------------------------------


@pytest.mark.requirement(
    "TEL-011",
    clause="3GPP TS 27.007 after a supply interruption: answers AT, same +CGSN, +CPIN: READY, "
    "7.2 registered, 8.5 +CSQ known",
)
def test_recovers_after_a_power_cycle(modem: Modem, power: PowerSupply) -> None:
    wait_responsive(modem)
    before = modem.identity().imei
    power.power_cycle()
    wait_responsive(modem)
    modem.enable_error_codes()
    assert modem.identity().imei == before, "another IMEI after the power cycle"
    assert modem.command("AT+CPIN?").value("+CPIN:").upper() == "READY"
    registration: Registration = modem.wait_registered(REGISTRATION_TIMEOUT)
    assert registration.registered, f"not registered after the power cycle: {registration}"
    signal = modem.signal()
    assert 0 <= signal.rssi <= 31, f"+CSQ: rssi {signal.rssi} after the power cycle"
