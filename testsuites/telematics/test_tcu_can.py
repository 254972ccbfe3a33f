"""What the TCU says on CAN about its modem and the vehicle, checked against the modem.

The TCU's status message (``TCU_Status`` in dbc/demo_vehicle.dbc, InfoType NETWORK)
carries the ``+CREG`` stat (``RegistrationState``, value table NOT_REGISTERED, HOME,
SEARCHING, DENIED, ROAMING) and the ``+CSQ`` rssi (``SignalQuality`` 0..31, 99 UNKNOWN).
The tests compare it with what the modem answers, also while the network comes and goes
(``AT+COPS=2`` / ``AT+COPS=0``), and check the TCU's telemetry against the DBC. The
channel and node come from the bench (``[serial.NAME] can``/``node``, see conftest.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest
from cantools.database.can import Message
from telematics_support import REGISTRATION_TIMEOUT, TcuOnCan, raw

from harness.canbus.frame import Frame
from harness.canbus.history import Mark
from harness.devices.modem import Modem
from harness.sim.modem import ModemSimulation

pytestmark = pytest.mark.requires("can")

SIGNAL_TOLERANCE = 2
"""+CSQ steps (2 dB each) by which the reported signal may differ from the polled one: a
real signal moves between the poll and the TCU's frame."""
CHANGED_RSSI = 9
"""The signal a test switches the simulated network to (-95 dBm)."""
REGISTERED = (1, 5)


def _network_frame(frame: Frame) -> bool:
    """A status frame carrying the network signals (the multiplexer selects them)."""
    return "RegistrationState" in frame.signals and "SignalQuality" in frame.signals


def _state_name(status: Message, stat: int) -> str:
    choices: Mapping[Any, Any] = status.get_signal_by_name("RegistrationState").choices or {}
    return f"{stat} ({choices.get(stat, 'no name in the DBC')!s})"


def _wait_status(tcu: TcuOnCan, where: Callable[[Frame], bool], since: Mark) -> Frame:
    """The first network status frame after ``since`` that satisfies ``where``, within
    two cycles (ExpectationError with the frames that came instead)."""
    __tracebackhide__ = True
    return tcu.channel.wait_for(
        tcu.status.name,
        where=lambda f: _network_frame(f) and where(f),
        since=since,
        timeout=tcu.report_timeout(),
    )


@pytest.mark.requirement(
    "TEL-020",
    clause="DBC TCU_Status RegistrationState (VAL_ table) = 3GPP TS 27.007 7.2 +CREG stat; "
    "SignalQuality = 8.5 +CSQ rssi (0..31, 99 UNKNOWN)",
)
def test_status_agrees_with_the_modem(online: Modem, tcu: TcuOnCan) -> None:
    registration = online.registration()
    before = online.signal().rssi
    since = tcu.channel.mark()
    low, high = before - SIGNAL_TOLERANCE, before + SIGNAL_TOLERANCE

    def agrees(frame: Frame) -> bool:
        quality = raw(frame["SignalQuality"])
        signal_ok = quality == 99 if before == 99 else low <= quality <= high
        return bool(raw(frame["RegistrationState"]) == registration.stat and signal_ok)

    _wait_status(tcu, agrees, since)
    after = online.signal().rssi
    assert abs(after - before) <= SIGNAL_TOLERANCE or 99 in (before, after), (
        f"the signal moved from {before} to {after} during the check: repeat on a steady signal"
    )


@pytest.mark.requirement(
    "TEL-021",
    clause="DBC TCU_Status RegistrationState follows 3GPP TS 27.007 7.2 +CREG stat when the "
    "modem leaves (7.3 +COPS=2) and rejoins (+COPS=0) the network, within two cycles",
)
def test_status_follows_the_loss_of_the_network(network_restored: Modem, tcu: TcuOnCan) -> None:
    modem = network_restored
    since = tcu.channel.mark()
    modem.command("AT+COPS=2")
    lost = modem.registration()
    assert not lost.registered, f"still registered after AT+COPS=2: {lost}"
    frame = _wait_status(tcu, lambda f: raw(f["RegistrationState"]) not in REGISTERED, since)
    assert raw(frame["RegistrationState"]) == lost.stat, (
        f"TCU_Status says {_state_name(tcu.status, raw(frame['RegistrationState']))}, "
        f"the modem {lost}"
    )

    since = tcu.channel.mark()
    modem.command("AT+COPS=0")
    back = modem.wait_registered(REGISTRATION_TIMEOUT)
    _wait_status(tcu, lambda f: raw(f["RegistrationState"]) == back.stat, since)


@pytest.mark.requirement(
    "TEL-022",
    clause="DBC TCU_Status SignalQuality 99 UNKNOWN (VAL_ table, GenSigStartValue) while "
    "3GPP TS 27.007 8.5 +CSQ says rssi 99 (not known)",
)
def test_status_reports_an_unknown_signal_as_99(network_restored: Modem, tcu: TcuOnCan) -> None:
    modem = network_restored
    modem.command("AT+COPS=2")
    if modem.signal().rssi != 99:
        pytest.skip("this modem still reports a signal off the network (+CSQ rssi not 99)")
    since = tcu.channel.mark()
    _wait_status(tcu, lambda f: raw(f["SignalQuality"]) == 99, since)


@pytest.mark.requirement(
    "TEL-023",
    clause="DBC TCU_Status SignalQuality follows 3GPP TS 27.007 8.5 +CSQ rssi when the "
    "signal changes, within two cycles",
)
def test_status_follows_a_signal_change(
    online: Modem, tcu: TcuOnCan, modem_simulation: ModemSimulation
) -> None:
    original = modem_simulation.rssi
    try:
        since = tcu.channel.mark()
        modem_simulation.set_signal(CHANGED_RSSI)
        polled = online.signal().rssi
        assert polled == CHANGED_RSSI, f"+CSQ says {polled} after the network changed"
        _wait_status(tcu, lambda f: raw(f["SignalQuality"]) == polled, since)
    finally:
        modem_simulation.set_signal(original)


@pytest.mark.requirement(
    "TEL-024",
    clause="DBC: every cyclic TCU message (TCU_Telemetry) sent within two GenMsgCycleTime, "
    "each signal within its SG_ minimum..maximum",
)
def test_telemetry_present_with_signals_in_range(tcu: TcuOnCan) -> None:
    if not tcu.telemetry:
        pytest.skip(f"node {tcu.node!r} sends no cyclic message besides {tcu.status.name}")
    problems = []
    for message in tcu.telemetry:
        window = 2 * (message.cycle_time or 0) / 1000 + 0.5
        frames = tcu.channel.collect(message.name, duration=window)
        if not frames:
            problems.append(f"{message.name}: no frame within {window:g} s")
            continue
        for frame in frames:
            for signal in message.signals:
                value = raw(frame.signals.get(signal.name))
                if not isinstance(value, int | float):
                    continue
                low, high = signal.minimum, signal.maximum
                if (low is not None and value < low) or (high is not None and value > high):
                    problems.append(
                        f"{message.name}.{signal.name} = {value:g} outside {low}..{high}: "
                        f"{frame.describe()}"
                    )
    assert not problems, "; ".join(problems[:5])
