"""``harness.canbus.rules``: the timing suite's rules on arrays, against plain-Python
statements of the same rules (hypothesis) and the ``autosar-e2e`` CRC."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.canbus import rules
from harness.canbus.database import SignalDatabase

ROOT = Path(__file__).resolve().parents[2]
DEMO = SignalDatabase.load(ROOT / "dbc" / "demo_vehicle.dbc").cantools


@given(st.lists(st.integers(0, 15), max_size=40), st.integers(1, 16))
def test_counter_steps_flags_every_step_that_is_not_plus_one(
    values: list[int], modulo: int
) -> None:
    steps = rules.counter_steps(values, modulo)
    expected = [
        i for i, (a, b) in enumerate(itertools.pairwise(values), start=1) if b != (a + 1) % modulo
    ]
    assert sorted([*steps.repeated.tolist(), *steps.jumped.tolist()]) == expected
    assert all(values[i] == values[i - 1] for i in steps.repeated.tolist())


def test_check_cycle_judges_the_mean_and_with_each_every_interval() -> None:
    assert rules.check_cycle([0.1, 0.1, 0.1], 0.1).passed
    assert not rules.check_cycle([0.15] * 3, 0.1).passed
    spread = [0.05, 0.15, 0.1]  # mean 100 ms, two intervals outside +-10 %
    assert rules.check_cycle(spread, 0.1).passed
    verdict = rules.check_cycle(spread, 0.1, each=True)
    assert not verdict.passed
    assert verdict.outside.tolist() == [0.05, 0.15]
    with pytest.raises(ValueError, match="at least one interval"):
        rules.check_cycle([], 0.1)


def test_gaps_count_the_silence_after_the_last_frame_when_given_an_end() -> None:
    stamps = [0.0, 0.1, 0.2, 0.5, 0.6]
    assert rules.gaps_over(stamps, 0.2).tolist() == [2]
    assert rules.gaps_over(stamps, 0.2, end=1.0).tolist() == [2, 4]
    assert rules.longest_gap(stamps) == pytest.approx((0.3, 0.2))
    assert rules.longest_gap(stamps, end=1.5) == pytest.approx((0.9, 0.6))


def test_interval_stats() -> None:
    stats = rules.interval_stats([0.0, 0.1, 0.3, 0.4])
    assert stats is not None
    assert (stats.count, stats.longest_at) == (3, 0.1)
    assert stats.maximum == pytest.approx(0.2)
    assert stats.mean == pytest.approx(0.4 / 3)
    assert rules.interval_stats([1.0]) is None


def test_out_of_range_allows_value_table_entries_and_skips_absent_values() -> None:
    throttle = DEMO.get_message_by_name("ECM_EngineData").get_signal_by_name("ThrottlePosition")
    finding = rules.out_of_range(np.array([0.0, 100.0, 102.0, -1.0, np.nan, np.inf]), throttle)
    assert finding.above.tolist() == [False, False, True, False, False, False]
    assert finding.below.tolist() == [False, False, False, True, False, False]
    assert finding.not_finite.tolist() == [False] * 5 + [True]
    assert rules.range_problem(throttle, 102.0) == (
        "ThrottlePosition=102 above the DBC maximum 100"
    )
    assert rules.range_problem(throttle, "NAMED") is None


def test_undeclared_keys_tell_standard_from_extended_ids() -> None:
    declared = rules.frame_key([0x100], [False])
    keys = rules.frame_key([0x100, 0x100, 0x200], [False, True, False])
    assert rules.undeclared(keys, declared).tolist() == [False, True, True]


def test_bus_load_of_classic_frames() -> None:
    bits = rules.frame_bits(
        np.array([8, 0]), np.array([False, True]), np.array([False, False]), bitrate=500_000
    )
    assert bits.tolist() == [111.0, 67.0]
    assert rules.bus_load(1000 * 111, 1.0, 500_000) == pytest.approx(0.222)
