"""The modem built into the TCU on the virtual bench: powered with it, reported by it on
CAN, and its seeded faults switched from the bench file."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.bench import Bench, Channels
from harness.bench.devices import SeededDeviceFault, seeded_device_faults
from harness.config import load_bench
from harness.devices.modem import Modem
from harness.devices.power import PowerSupply
from harness.exceptions import ConfigError
from harness.sim.modem import ModemSimulation
from harness.sim.power import PowerSimulation

VIRTUAL = Path(__file__).resolve().parents[2] / "fixtures" / "benches" / "virtual.toml"
SWITCH = 2.0
"""Seconds the simulated supply may take to tell its loads (it is on a TCP socket)."""


def test_seeded_device_faults_of_the_virtual_bench() -> None:
    faults = {(f.device, f.name): f for f in seeded_device_faults(load_bench(VIRTUAL))}
    assert faults[("modem", "no_answer")] == SeededDeviceFault(
        "modem",
        "no_answer",
        "Stops answering AT+CSQ (firmware hang): the command times out.",
        False,
    )
    assert faults[("modem", "no_answer")].bench_set == 'serial.modem.faults=["no_answer"]'
    assert {name for (_, name), f in faults.items() if f.quirk} == {
        "garbage", "no_final_ok", "double_cr", "urc_in_response",
    }  # fmt: skip
    for fault in faults.values():  # every listed override loads
        load_bench(VIRTUAL, [fault.bench_set])


def test_a_bench_without_simulated_devices_lists_no_device_faults(tmp_path: Path) -> None:
    path = tmp_path / "bench.toml"
    path.write_text('[bench]\nname = "real"\n[serial.m]\nkind = "modem"\nport = "/dev/ttyUSB2"\n')
    assert seeded_device_faults(load_bench(path)) == []


@pytest.mark.requires("can:body", "power", "serial:modem")
def test_the_modem_runs_with_the_tcu_and_is_reported_on_can(
    bench: Bench, modem: Modem, can: Channels, power: PowerSupply
) -> None:
    sim = bench.devices.simulation("modem")
    supply = bench.devices.simulation("psu")
    assert isinstance(sim, ModemSimulation)
    assert isinstance(supply, PowerSimulation)
    assert bench.devices.ecus == {"modem": bench.sims["tcu"]}

    power.off()
    assert supply.wait_dut(False, SWITCH)
    assert not sim.powered, "the modem kept running with its TCU off"
    assert not bench.sims["tcu"].powered

    since = can.body.mark()
    urcs = modem.urc_mark()
    power.on()
    assert supply.wait_dut(True, SWITCH)
    modem.wait_urc("RDY", since=urcs, timeout=SWITCH)
    registration = modem.wait_registered(timeout=5)
    can.body.wait_for(
        "TCU_Status",
        where={"RegistrationState": "HOME", "SignalQuality": 21},
        since=since,
        timeout=2.5,
    )
    assert registration.stat == 1


def test_bench_file_faults_are_on_from_the_start() -> None:
    with Bench.open(VIRTUAL, ['serial.modem.faults=["urc_in_response"]']) as bench:
        sim = bench.devices.simulation("modem")
        assert sim.active_faults == {"urc_in_response"}
        sim.fault_on("no_answer")
        sim.restore_faults()  # what the modem fixture does after each test
        assert sim.active_faults == {"urc_in_response"}


def test_a_node_missing_from_the_dbc_is_named() -> None:
    with pytest.raises(ConfigError) as info:
        Bench.open(VIRTUAL, ['serial.modem.node="TCUU"'])
    assert info.value.key == "serial.modem.node"
    assert "did you mean 'TCU'" in info.value.problem
