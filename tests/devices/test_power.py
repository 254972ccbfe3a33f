"""The SCPI power-supply driver (PyVISA, pyvisa-py) against the simulated supply."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from harness import clock
from harness.devices.config import PowerConfig, SerialDeviceConfig
from harness.devices.log import SerialLog
from harness.devices.power import PowerSupply, resource_for
from harness.exceptions import DeviceError, DeviceTimeoutError
from harness.sim.power import PowerSimulation, load_power

PSU_FILE = Path(__file__).resolve().parents[2] / "fixtures" / "devices" / "psu.toml"


class Dut:
    """What the supply powers: records each switch, and lets a test wait for one."""

    def __init__(self) -> None:
        self.events: list[tuple[bool, float]] = []
        self._cond = threading.Condition()

    def __call__(self, powered: bool) -> None:
        with self._cond:
            self.events.append((powered, clock.now()))
            self._cond.notify_all()

    def wait(self, powered: bool, count: int = 1, timeout: float = 2.0) -> float:
        with self._cond:
            ok = self._cond.wait_for(
                lambda: sum(1 for p, _ in self.events if p == powered) >= count, timeout
            )
            assert ok, f"DUT never switched {'on' if powered else 'off'}: {self.events}"
            return [t for p, t in self.events if p == powered][count - 1]


@pytest.fixture
def sim() -> Iterator[PowerSimulation]:
    with PowerSimulation(load_power(PSU_FILE)) as simulation:
        yield simulation


@pytest.fixture
def dut(sim: PowerSimulation) -> Dut:
    recorder = Dut()
    sim.on_power(recorder)
    return recorder


@pytest.fixture
def psu(
    sim: PowerSimulation, make_config: Callable[..., SerialDeviceConfig], traffic_log: SerialLog
) -> Iterator[PowerSupply]:
    device = make_config("power", sim.serve("pty").url, timeout=1.0)
    power = PowerConfig(serial="power", off_time=0.05, channel=None)
    with PowerSupply.from_config(power, device, traffic_log) as supply:
        yield supply


def output_of(psu: PowerSupply) -> bool:
    """The output state now (read afresh: an earlier assert does not fix it)."""
    return psu.output


def test_identify_set_switch_and_measure_over_a_pty(
    psu: PowerSupply, sim: PowerSimulation, dut: Dut, traffic_log: SerialLog
) -> None:
    assert psu.resource.resource_name.startswith("ASRL/dev/")
    assert psu.identify() == "ecu-harness,SIM-PSU-1,SN0001,1.0"
    assert dut.events == [(False, dut.events[0][1])]  # the supply starts with its output off
    psu.set_voltage(13.5)
    psu.set_current_limit(2.5)
    assert (psu.voltage, psu.current_limit) == (13.5, 2.5)
    assert not output_of(psu)
    assert psu.measure_voltage() == 0.0
    psu.on()
    assert output_of(psu)
    assert psu.measure_voltage() == 13.5
    dut.wait(True)
    assert psu.measure_current() == pytest.approx(0.35)
    text = traffic_log.format()
    assert "power      tx *IDN?\\n" in text
    assert "power      rx ecu-harness,SIM-PSU-1" in text


def test_power_cycle_switches_the_dut_off_and_on(psu: PowerSupply, dut: Dut) -> None:
    psu.on()
    dut.wait(True)
    cycle = psu.power_cycle(off_time=0.1)
    off = dut.wait(False, count=2)
    on = dut.wait(True, count=2)
    assert cycle.on_at - cycle.off_at >= 0.1
    assert on - off >= 0.1 + 0.12  # off-time, then the DUT's boot time (boot_ms = 120)
    assert 0.12 <= on - cycle.on_at < 1.0


def test_too_low_a_voltage_does_not_run_the_dut(psu: PowerSupply, dut: Dut) -> None:
    psu.on()
    dut.wait(True)
    psu.set_voltage(6.0)  # below min_voltage
    dut.wait(False, count=2)


def test_a_refused_setting_names_the_command_and_the_error(psu: PowerSupply) -> None:
    with pytest.raises(DeviceError, match=r"'VOLT 99' was refused: -222 Data out of range"):
        psu.set_voltage(99)
    with pytest.raises(DeviceError, match="-113 Undefined header"):
        psu.write("BOGUS:CMD 1")
    assert psu.query("SYST:ERR?") == '0,"No error"'


def test_long_forms_compound_commands_and_channels(
    sim: PowerSimulation, make_config: Callable[..., SerialDeviceConfig]
) -> None:
    sim = PowerSimulation(replace(sim.definition, channels=2))
    with sim:
        device = make_config("power", sim.serve("pty").url, timeout=1.0)
        with PowerSupply.from_config(PowerConfig(serial="power", channel=2), device) as supply:
            supply.set_voltage(5.0)
            assert sim.voltage == {1: 12.0, 2: 5.0}
            assert supply.query(":SOURce:VOLTage:LEVel:IMMediate:AMPLitude?") == "5.000"
            assert supply.query("*IDN?;:INST:NSEL?") == "ecu-harness,SIM-PSU-1,SN0001,1.0;2"


def test_socket_transport_is_a_tcpip_socket_resource(
    sim: PowerSimulation, make_config: Callable[..., SerialDeviceConfig]
) -> None:
    device = make_config("power", sim.serve("socket").url, timeout=1.0)
    name, _ = resource_for(device)
    assert name.startswith("TCPIP::127.0.0.1::")
    assert name.endswith("::SOCKET")
    with PowerSupply.from_config(PowerConfig(serial="power"), device) as supply:
        assert supply.identify().startswith("ecu-harness")
        supply.on()
        assert sim.output_on


def test_no_answer_is_a_timeout(
    peer: object, make_config: Callable[..., SerialDeviceConfig]
) -> None:
    device = make_config("power", peer.link.url, timeout=0.3)  # type: ignore[attr-defined]
    with PowerSupply.from_config(PowerConfig(serial="power"), device) as supply:
        start = clock.now()
        with pytest.raises(DeviceTimeoutError, match=r"no answer to '\*IDN\?' within 0.3 s"):
            supply.identify()
        assert clock.now() - start < 3.0


def test_a_port_that_disappears(psu: PowerSupply, sim: PowerSimulation) -> None:
    assert psu.identify()
    sim.disconnect()
    start = clock.now()
    with pytest.raises(DeviceError, match=r"power \(ASRL/dev/.*\): '\*IDN\?' failed"):
        psu.identify()
    assert clock.now() - start < 3.0


def test_an_unopenable_resource() -> None:
    with pytest.raises(
        DeviceError, match="cannot open power supply 'power' at 'ASRL/dev/nonexistent"
    ):
        PowerSupply.open("ASRL/dev/nonexistent-tty::INSTR")
