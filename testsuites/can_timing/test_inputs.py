"""The DUT's inputs: the cyclic messages other nodes send it, checked against the DBC.

A verdict on the DUT means something only if what it receives is right: a missing,
late or corrupted input makes a correct DUT look broken, or hides the DUT's reaction.
On a lab bench these messages come from the residual-bus simulation or from real ECUs;
either way the same checks apply as to the DUT's own messages (cycle time, counters,
checksums, no interruption). A failure here points at the bench, or at a neighbour the
DUT depends on, before anyone blames the DUT.
"""

from __future__ import annotations

import itertools

import pytest
from cantools.database.can import Message

from harness.canbus.channel import Channel

pytestmark = pytest.mark.requires("can")

CYCLE_TOLERANCE = 0.10
"""Allowed deviation of the mean interval from GenMsgCycleTime (a fraction)."""
CYCLE_SAMPLES = 10
"""Intervals measured per check, fewer for slow messages (see ``_samples``)."""
SAMPLE_BUDGET = 3.0
"""Seconds a check may spend sampling a slow message (at least 3 intervals)."""
MAX_GAP_CYCLES = 2.0
"""The longest gap allowed between two frames, in cycle times."""
WATCH_MIN = 1.0
"""Seconds watched for interruptions, or one cycle more than the allowed gap if longer."""


def _cycle(definition: Message) -> float:
    assert definition.cycle_time, f"{definition.name} has no GenMsgCycleTime"
    return float(definition.cycle_time) / 1000


def _samples(definition: Message) -> int:
    return max(3, min(CYCLE_SAMPLES, int(SAMPLE_BUDGET / _cycle(definition))))


@pytest.mark.requirement("CAN-101", clause="DUT inputs: DBC GenMsgCycleTime, mean interval +-10 %")
def test_input_cycle_time_within_tolerance(input_message: tuple[Channel, Message]) -> None:
    channel, definition = input_message
    channel.cycle_time(definition.name, samples=_samples(definition)).check(CYCLE_TOLERANCE)


@pytest.mark.requirement(
    "CAN-102", clause="DUT inputs: DBC counter/checksum signals (rolling counter, CRC) valid"
)
def test_input_counters_and_checksums_valid(input_message: tuple[Channel, Message]) -> None:
    channel, definition = input_message
    channel.check_protection(definition.name, samples=_samples(definition))


@pytest.mark.requirement(
    "CAN-103",
    clause=f"DUT inputs: sent without interruption (no gap > {MAX_GAP_CYCLES:g} cycles)",
)
def test_input_keeps_coming(input_message: tuple[Channel, Message]) -> None:
    channel, definition = input_message
    cycle = _cycle(definition)
    window = max(WATCH_MIN, (MAX_GAP_CYCLES + 1) * cycle)
    since = channel.mark()
    frames = channel.collect(definition.name, duration=window, since=since)
    end = since.timestamp + window
    stamps = [since.timestamp] + [f.timestamp for f in frames] + [end]
    worst, at = max((b - a, a) for a, b in itertools.pairwise(stamps))
    assert worst <= MAX_GAP_CYCLES * cycle, (
        f"{definition.name} on {channel.name!r}: no frame for {worst * 1000:.0f} ms from "
        f"{at - since.timestamp:+.3f} s into a {window:g} s watch ({len(frames)} frames; "
        f"allowed {MAX_GAP_CYCLES * cycle * 1000:g} ms)"
    )
