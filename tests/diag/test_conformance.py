"""What the diagnostic suites share: NRC checks, DUT timers, security level and session."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.bench import Bench
from harness.bench.diagnostics import dut_timing
from harness.diag.conformance import (
    S3_DEFAULT,
    DutTiming,
    lowest_security_level,
    negative,
    pick_session,
    security_session,
)
from harness.diag.profile import load_profile

ROOT = Path(__file__).resolve().parents[2]
PROFILE = ROOT / "fixtures" / "dut" / "bcm.toml"


def test_negative_reads_the_nrc_and_rejects_foreign_answers() -> None:
    assert negative(bytes.fromhex("7F 22 31"), 0x22) == 0x31
    assert negative(bytes.fromhex("62 F1 90 41"), 0x22) is None
    with pytest.raises(AssertionError, match="no response to service 0x22"):
        negative(None, 0x22)
    with pytest.raises(AssertionError, match="names service 0x27"):
        negative(bytes.fromhex("7F 27 31"), 0x22)
    with pytest.raises(AssertionError, match="malformed"):
        negative(bytes.fromhex("7F 22"), 0x22)
    with pytest.raises(AssertionError, match="to service 0x22"):
        negative(bytes.fromhex("50 03"), 0x22)


def test_security_level_and_session_from_the_profile() -> None:
    profile = load_profile(PROFILE)
    assert lowest_security_level(profile) == 1
    assert security_session(profile, 1) == "extended"  # ImmobilizerData's session
    assert security_session(profile, 3) == "extended"  # nothing needs it: the usual one


def test_pick_session_prefers_default_then_extended() -> None:
    assert pick_session(("default", "extended")) == "default"
    assert pick_session(("default", "extended"), non_default=True) == "extended"
    assert pick_session(("programming",)) == "programming"


def test_timers_come_from_the_simulated_dut() -> None:
    with Bench.open(ROOT / "fixtures" / "benches" / "virtual.toml") as bench:
        timing = dut_timing(bench)
    assert timing == DutTiming(s3=5.0, security_delay=10.0, max_attempts=3, known=True)


def test_without_a_simulated_dut_the_defaults_are_not_claimed_known(tmp_path: Path) -> None:
    path = tmp_path / "bench.toml"
    path.write_text(
        f'[can.body]\ninterface = "virtual"\nchannel = "{tmp_path.name}"\n'
        "[diagnostics]\nrequest_id = 0x7E0\n"
    )
    with Bench.open(path) as bench:
        timing = dut_timing(bench)
    assert (timing.s3, timing.known) == (S3_DEFAULT, False)
