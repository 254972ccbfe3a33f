"""Done-when scenarios on the virtual bench, through the plugin's fixtures: power-cycle the
simulated DUT and measure its start-up time; register the simulated modem and send an SMS;
both with the serial log kept."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness.bench import Bench, Channels
from harness.devices.console import Console
from harness.devices.log import SerialLog
from harness.devices.modem import Modem
from harness.devices.power import PowerSupply
from harness.sim.modem import ModemSimulation

pytestmark = pytest.mark.requires("can:body", "power", "serial:modem", "serial:console")

BOOT_TIME = 0.120
"""boot_ms of fixtures/devices/psu.toml: the simulated DUT's start-up time."""


def test_power_cycle_and_dut_start_up_time(
    power: PowerSupply,
    can: Channels,
    console: Console,
    serial_log: SerialLog,
    record_figure: Callable[[str, float], None],
) -> None:
    body = can.body
    dut_messages = {m.name for m in body.dut_messages}
    since = body.mark()
    banner = console.mark()
    log_mark = serial_log.mark()

    cycle = power.power_cycle()  # off for the bench's off_time (0.2 s), then on
    first = body.wait_for(  # the DUT's first frame, of any message, after power-on
        None,
        where=lambda f: f.name in dut_messages and f.timestamp > cycle.on_at,
        since=since,
        timeout=2,
    )
    first_status = body.wait_for(
        "BCM_DoorStatus", where=lambda f: f.timestamp > cycle.on_at, since=since
    )

    frames = [f for f in body.history.since(since.seq) if f.is_rx and f.name in dut_messages]
    quiet = [f for f in frames if cycle.off_at + 0.05 < f.timestamp < cycle.on_at]
    assert quiet == [], "the DUT sent while its supply was off"
    start_up = first.timestamp - cycle.on_at
    record_figure("dut_start_up_s", round(start_up, 4))
    print(f"DUT start-up time: {start_up * 1000:.1f} ms (first frame: {first.name})")
    assert BOOT_TIME <= start_up < BOOT_TIME + 1.0  # the boot time, plus scheduling slack
    assert first.timestamp <= first_status.timestamp
    assert cycle.on_at - cycle.off_at >= 0.2

    console.expect(r"reset cause: (\S+)", since=banner)  # the DUT's console saw it boot
    console.expect_exact("bcm> ")
    console.send("version")
    assert console.expect(r"SW (\d+\.\d+\.\d+)").group(1) == "1.2.3"
    sent = b"".join(e.data for e in serial_log.since(log_mark, device="psu") if e.direction == "tx")
    assert b"OUTP OFF" in sent
    assert b"OUTP ON" in sent


def test_power_off_silences_the_dut_until_the_fixture_restores_it(
    power: PowerSupply, can: Channels, bench: Bench
) -> None:
    power.off()
    assert not power.output
    assert power.measure_current() == 0.0
    assert not bench.sims["bcm"].powered
    can.body.expect_never("BCM_DoorStatus", since=can.body.mark(), for_=0.15)
    # the power fixture switches the output back on (and waits for the boot) at teardown


def test_the_dut_runs_again_after_a_test_switched_it_off(power: PowerSupply, bench: Bench) -> None:
    assert power.output
    assert bench.sims["bcm"].powered
    assert power.measure_voltage() == 13.5
    assert power.measure_current() == pytest.approx(0.35)


def test_register_the_modem_and_send_an_sms(
    modem: Modem, bench: Bench, serial_log: SerialLog
) -> None:
    sim = bench.devices.simulation("modem")
    assert isinstance(sim, ModemSimulation)
    log_mark = serial_log.mark()
    since = modem.urc_mark()
    sim.reboot()  # start from scratch: searching, then registered
    modem.wait_urc("RDY", since=since, timeout=2)
    registration = modem.wait_registered(timeout=5)
    assert registration.registered
    assert not registration.roaming
    assert modem.signal().dbm == -71

    reference = modem.send_sms("+491701234567", "BCM-DEMO: door test passed")
    assert sim.sent[-1].number == "+491701234567"
    assert sim.sent[-1].text == "BCM-DEMO: door test passed"
    assert sim.sent[-1].reference == reference
    welcome = modem.wait_sms(timeout=3, since=since)  # the network's welcome message
    assert welcome.text == "Welcome to SIM Mobile"

    sent = b"".join(
        e.data for e in serial_log.since(log_mark, device="modem") if e.direction == "tx"
    )
    assert b'AT+CMGS="+491701234567"\r' in sent
    assert b"BCM-DEMO: door test passed\x1a" in sent


def test_a_modem_test_starts_after_the_boot_urcs_of_the_last_power_cycle(
    modem: Modem, bench: Bench
) -> None:
    """A boot's URCs are written to the pty at once and read by the driver's thread a
    moment later: the ``modem`` fixture (``Devices.settle``) waits for them, so a test's
    ``wait_urc("RDY", since=mark)`` cannot be satisfied by the boot before it."""
    sim = bench.devices.simulation("modem")
    assert isinstance(sim, ModemSimulation)
    since = modem.urc_mark()
    sim.stop()
    sim.start()  # a power cycle: RDY is on its way to the driver now
    bench.devices.settle(modem)
    assert [urc.line for urc in modem.urcs_since(since, "RDY")] == ["RDY"]  # no waiting
    assert modem.wait_registered(timeout=5).registered  # left as found
