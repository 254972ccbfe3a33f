"""DUT identity: providers, merging, failures that must not end a run, changes; the UDS and
modem providers against the virtual bench's simulated BCM and modem."""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness.bench import Bench
from harness.config import load_bench
from harness.exceptions import DiagnosticTimeoutError
from harness.report import identity
from harness.report.identity import (
    IdentityProvider,
    Value,
    bench_file_identity,
    changes,
    read_identity,
    text,
)

ROOT = Path(__file__).resolve().parents[2]
VIRTUAL_BENCH = ROOT / "fixtures" / "benches" / "virtual.toml"


def fake_bench(**dut: Any) -> Any:
    config = load_bench(VIRTUAL_BENCH)
    return SimpleNamespace(config=config, name=config.name, **dut)


def test_the_bench_file_declares_name_part_number_and_identity() -> None:
    values = bench_file_identity(fake_bench())
    assert values["part_number"] == "BCM-DEMO-0001"
    assert values["name"] == "Body controller (simulated)"
    assert values["supplier"] == "ecu-harness project"


def test_later_providers_win_and_failures_are_noted_not_raised() -> None:
    def dut(bench: Any) -> dict[str, str]:
        return {"part_number": "FROM-DUT", "vin": b"WVW123\x00\x00"}  # type: ignore[dict-item]

    def silent(bench: Any) -> dict[str, str]:
        raise DiagnosticTimeoutError("ReadDataByIdentifier VIN: no response")

    def buggy(bench: Any) -> dict[str, str]:
        raise KeyError("oops")

    reading = read_identity(
        fake_bench(),
        [
            IdentityProvider("bench file", bench_file_identity),
            IdentityProvider("dut", dut),
            IdentityProvider("silent", silent),
            IdentityProvider("buggy", buggy),
        ],
    )
    assert reading.values["part_number"] == "FROM-DUT"
    assert reading.sources["part_number"] == "dut"
    assert reading.values["vin"] == "WVW123"
    assert reading.errors == {
        "silent": "ReadDataByIdentifier VIN: no response",
        "buggy": "KeyError: 'oops'",
    }


def test_changes_compare_the_same_provider_and_key_only() -> None:
    start = [Value("uds", "software_version", "1.0"), Value("uds", "vin", "V1")]
    end = [Value("uds", "software_version", "1.1"), Value("bench file", "vin", "other")]
    (change,) = changes(start, end)
    assert str(change) == "software version (uds): '1.0' -> '1.1'"


def test_text_keeps_printable_values_and_shows_binary_as_hex() -> None:
    assert text(b"SW 1.4.2  ") == "SW 1.4.2"
    assert text(b"\x01\x02") == "01 02"
    assert text(42) == "42"


def test_registered_providers_run_in_order_and_can_be_removed() -> None:
    before = list(identity.PROVIDERS)
    try:
        identity.register("label", lambda bench: {"serial_number": "SN-42"})
        assert identity.PROVIDERS[-1].name == "label"
        assert read_identity(fake_bench()).values["serial_number"] == "SN-42"
        identity.unregister("label")
        assert before == identity.PROVIDERS
    finally:
        identity.PROVIDERS[:] = before


def test_benches_without_diagnostics_or_modems_give_nothing(tmp_path: Path) -> None:
    bench = SimpleNamespace(config=SimpleNamespace(diagnostics={}), devices={})
    assert identity.uds_identity(bench) == {}  # type: ignore[arg-type]
    assert identity.modem_identity(bench) == {}  # type: ignore[arg-type]
    assert identity.modem_identity(SimpleNamespace()) == {}  # type: ignore[arg-type]


def own_virtual_bench(*overrides: str) -> Any:
    """The virtual bench on a bus of its own: a session's ``bench`` fixture may hold the
    default one open in this process, and two simulated BCMs would both answer."""
    return load_bench(VIRTUAL_BENCH, [f"can.body.channel=identity-{uuid.uuid4().hex}", *overrides])


def test_the_virtual_dut_is_identified_over_uds_and_at_commands() -> None:
    with Bench.open(own_virtual_bench()) as bench:
        reading = read_identity(bench)
    assert reading.errors == {}
    values, sources = reading.values, reading.sources
    assert values["vin"] == "WDEMX000000000001"
    assert (values["part_number"], sources["part_number"]) == ("BCM-DEMO-0001", "uds")
    assert values["software_version"]
    assert values["serial_number"]
    assert values["modem.imei"] == "356938035643809"
    assert values["modem.imsi"] == "262011234567890"
    assert "SIM-LTE-1" in values["modem.ati"]
    assert sources["modem.imei"] == "modem"


@pytest.mark.parametrize("profile", [True, False], ids=["profile", "standard-dids"])
def test_uds_reads_identification_dids_with_or_without_a_profile(profile: bool) -> None:
    config = own_virtual_bench()
    if not profile:  # no profile: the standard DIDs by number, raw bytes as ASCII
        assert config.diagnostics is not None
        config = replace(config, diagnostics=replace(config.diagnostics, profile=None))
    with Bench.open(config) as bench:
        values = identity.uds_identity(bench)
    assert values["vin"] == "WDEMX000000000001"
    assert values["part_number"] == "BCM-DEMO-0001"
