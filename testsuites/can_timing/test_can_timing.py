"""CAN timing conformance: what the DUT sends, checked against its DBC.

For every message the DUT node sends per the channel's DBC (``Channel.dut_messages``):
cycle time, frame length, signal ranges, counters and checksums, start-up time and
uninterrupted transmission; and per DUT channel: no undeclared IDs on the bus.
Parametrised at collection time from the bench file (see ``conftest.py``), so it runs
against any bench whose CAN channel names a ``dut_node`` and a ``dbc``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cantools.database.can import Message

from harness.canbus import rules
from harness.canbus.channel import Channel
from harness.canbus.frame import Frame
from harness.devices.power import PowerSupply

pytestmark = pytest.mark.requires("can")

CYCLE_TOLERANCE = rules.CYCLE_TOLERANCE
"""Allowed deviation of the mean interval from GenMsgCycleTime (a fraction)."""
CYCLE_SAMPLES = 10
"""Intervals measured per cycle-time check."""
FRAMES_CHECKED = 5
"""Cycles of traffic whose frames the length and range checks look at."""
START_UP_BUDGET = 0.5
"""Seconds from power-on to a message's first frame, on top of one cycle time, unless the
DBC gives the message a ``GenMsgStartDelayTime`` (ms)."""
RUN_WINDOW = 3.0
"""Seconds after power-on during which every cyclic message must keep coming."""
MAX_GAP_CYCLES = rules.MAX_GAP_CYCLES
"""The longest gap allowed between two frames of a cyclic message, in cycle times."""
UNDECLARED_WINDOW = 1.0
"""Seconds of bus traffic searched for undeclared IDs."""


def _cycle(definition: Message) -> float:
    assert definition.cycle_time, f"{definition.name} has no GenMsgCycleTime"
    return float(definition.cycle_time) / 1000


def _receive(channel: Channel, definition: Message) -> list[Frame]:
    """The frames of ``definition`` received during FRAMES_CHECKED cycles (at least one)."""
    duration = FRAMES_CHECKED * _cycle(definition)
    frames = channel.collect(definition.name, duration=duration)
    assert frames, f"no {definition.name} on {channel.name!r} within {duration:g} s"
    return frames


# -- per message ---------------------------------------------------------------------


@pytest.mark.requirement("CAN-001", clause="DBC GenMsgCycleTime, mean interval +-10 %")
def test_cycle_time_within_tolerance(cyclic_message: tuple[Channel, Message]) -> None:
    channel, definition = cyclic_message
    channel.cycle_time(definition.name, samples=CYCLE_SAMPLES).check(CYCLE_TOLERANCE)


@pytest.mark.requirement("CAN-002", clause="DBC message length (BO_ DLC); ISO 11898-1 DLC field")
def test_frame_length_as_in_the_dbc(cyclic_message: tuple[Channel, Message]) -> None:
    channel, definition = cyclic_message
    frames = _receive(channel, definition)
    mask = rules.wrong_length([f.dlc for f in frames], definition.length)
    wrong = [f for f, bad in zip(frames, mask.tolist(), strict=True) if bad]
    assert not wrong, (
        f"{len(wrong)} frame(s) of {definition.name} with a length other than the DBC's "
        f"{definition.length} bytes, e.g. {wrong[0].dlc} bytes: {wrong[0].describe()}"
    )


@pytest.mark.requirement("CAN-003", clause="DBC signal value ranges (SG_ minimum..maximum)")
def test_signals_within_dbc_range(cyclic_message: tuple[Channel, Message]) -> None:
    channel, definition = cyclic_message
    problems: list[str] = []
    for frame in _receive(channel, definition):
        if frame.decode_error:
            problems.append(f"undecodable ({frame.decode_error}): {frame.describe()}")
            continue
        for signal in definition.signals:
            if signal.name in frame.signals:
                problem = rules.range_problem(signal, frame.signals[signal.name])
                if problem:
                    problems.append(f"{problem} in {frame.describe()}")
    assert not problems, f"{definition.name} on {channel.name!r}:\n  " + "\n  ".join(problems[:10])


@pytest.mark.requirement(
    "CAN-004",
    clause="DBC counter/checksum signals: rolling counter increments, SAE J1850 CRC8 valid",
)
def test_counters_increment_and_checksums_valid(
    protected_message: tuple[Channel, Message],
) -> None:
    channel, definition = protected_message
    channel.check_protection(definition.name, samples=CYCLE_SAMPLES)


# -- per DUT channel -------------------------------------------------------------------


@pytest.mark.requirement("CAN-005", clause="DBC communication matrix: no undeclared IDs (BO_)")
def test_no_undeclared_ids_on_the_bus(dut_channel: Channel) -> None:
    """Every ID on the DUT's bus is declared in the DBC.

    The requirement is that the DUT sends no ID its DBC does not declare. On a shared
    bus a receiver cannot tell which node sent a frame, so this checks the stronger
    property that *every* ID heard on the channel, from any node, is declared: a
    failure names the ID, and the bench owner then decides whether the DUT sent it.
    """
    frames = dut_channel.collect(None, duration=UNDECLARED_WINDOW)
    heard = [f for f in frames if f.is_rx and not f.is_error]
    assert heard, f"no traffic at all on {dut_channel.name!r} within {UNDECLARED_WINDOW:g} s"
    undeclared: dict[str, Frame] = {}
    for frame in heard:
        if frame.name is None:
            undeclared.setdefault(frame.id_text(), frame)
    assert not undeclared, (
        f"ID(s) not declared in the DBC on {dut_channel.name!r}: {', '.join(undeclared)}\n  "
        + "\n  ".join(f.describe() for f in undeclared.values())
    )


def _cyclic_dut_messages(channel: Channel) -> list[Message]:
    cyclic = [m for m in channel.dut_messages if m.cycle_time]
    if not cyclic:
        pytest.skip(f"the DUT sends no cyclic message on {channel.name!r} per its DBC")
    return cyclic


def _start_up_limit(definition: Message) -> float:
    attribute = (definition.dbc.attributes if definition.dbc else {}).get("GenMsgStartDelayTime")
    if attribute is not None and attribute.value:
        return float(attribute.value) / 1000
    return START_UP_BUDGET + _cycle(definition)


@pytest.mark.requires("power")
@pytest.mark.requirement(
    "CAN-006",
    clause="start-up: first frame within 500 ms + one cycle of power-on "
    "(DBC GenMsgStartDelayTime where given)",
)
def test_time_from_power_on_to_first_frame(
    dut_channel: Channel, power: PowerSupply, record_figure: Callable[[str, float], None]
) -> None:
    cyclic = _cyclic_dut_messages(dut_channel)
    since = dut_channel.mark()
    cycle = power.power_cycle()  # returns when the output is back on
    problems: list[str] = []
    for definition in cyclic:
        limit = _start_up_limit(definition)
        first = dut_channel.wait_for(
            definition.name,
            where=lambda f: f.timestamp > cycle.on_at,
            since=since,
            timeout=max(0.0, cycle.on_at + limit - dut_channel.mark().timestamp),
        )
        start_up = first.timestamp - cycle.on_at
        record_figure(f"start_up_s[{definition.name}]", round(start_up, 4))
        if start_up > limit:
            problems.append(f"{definition.name}: {start_up * 1000:.1f} ms > {limit * 1000:g} ms")
    assert not problems, "first frame after power-on too late: " + "; ".join(problems)


@pytest.mark.requires("power")
@pytest.mark.requirement(
    "CAN-007",
    clause="DBC GenMsgCycleTime: sent without interruption from start-up "
    f"(no gap > {MAX_GAP_CYCLES:g} cycles in {RUN_WINDOW:g} s after power-on)",
)
def test_messages_keep_coming_after_power_on(dut_channel: Channel, power: PowerSupply) -> None:
    cyclic = _cyclic_dut_messages(dut_channel)
    names = {m.name for m in cyclic}
    since = dut_channel.mark()
    cycle = power.power_cycle()
    end = cycle.on_at + RUN_WINDOW
    frames = dut_channel.collect(
        None,
        where=lambda f: f.name in names and f.timestamp > cycle.on_at,
        duration=end - since.timestamp,
        since=since,
    )
    problems: list[str] = []
    for definition in cyclic:
        stamps = [f.timestamp for f in frames if f.name == definition.name]
        max_gap = MAX_GAP_CYCLES * _cycle(definition)
        if not stamps:
            problems.append(f"{definition.name}: never sent within {RUN_WINDOW:g} s of power-on")
            continue
        worst, at = rules.longest_gap(stamps, end=end)  # still coming at the window's end
        if worst > max_gap:
            problems.append(
                f"{definition.name}: no frame for {worst * 1000:.0f} ms from "
                f"{at - cycle.on_at:+.3f} s after power-on (allowed {max_gap * 1000:g} ms; "
                f"{len(stamps)} frames in {RUN_WINDOW:g} s)"
            )
    assert not problems, "cyclic message(s) interrupted:\n  " + "\n  ".join(problems)
