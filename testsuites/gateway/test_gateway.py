"""Gateway conformance: frames routed between channels per the gateway's routing table.

For every route of the table (``[gateway] profile`` of the bench, see ``conftest.py``):
a frame of the message sent on the source channel reaches the target channel, within
the route's latency limit, unchanged (signals, counter, checksum) and on the message's
own ID. Per direction between channels: what the table does not route stays on its
side. For the signal route into the gateway's snapshot message: the snapshot follows
its sources, with valid counter and checksum, at its DBC cycle time.

The probes are one raw step away from the latest traffic (``gateway_support``), so the
networks, and the DUTs on them, are left as they were.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable

import pytest
from gateway_support import (
    LEAK_PAYLOAD,
    Crossing,
    RouteUnderTest,
    explain_mismatch,
    nudged,
    plain,
    same_payload,
    send_probe,
    unknown_id,
)

from harness.bench import Channels
from harness.canbus.database import default_value
from harness.canbus.expect import between, require_db
from harness.canbus.frame import Frame
from harness.canbus.protection import checksum_problem, declared
from harness.canbus.routing import SnapshotRoute
from harness.exceptions import ExpectationError, UnknownNameError
from harness.sim.residual_bus import ResidualBus

pytestmark = pytest.mark.requires("can")

ARRIVAL_TIMEOUT = 1.0
"""Seconds to wait for a forwarded frame before calling it lost (far above any limit)."""
LATENCY_SAMPLES = 5
"""Probes per route whose median latency is held against the limit (one late frame on a
busy machine is not a slow route; a slow route is slow every time)."""
SNAPSHOT_CYCLES = 2
"""Snapshot frames within which a changed source value must show (its age limit)."""
SNAPSHOT_MARGIN = 0.3
"""Seconds on top of that, for a busy machine."""
SNAPSHOT_SAMPLES = 5
"""Snapshot intervals measured for cycle time, counter and checksum."""
CYCLE_TOLERANCE = 0.10
"""Allowed deviation of the snapshot's mean interval from GenMsgCycleTime (a fraction)."""


def _exchange(route: RouteUnderTest) -> tuple[Frame, Frame]:
    """Send a probe on the source channel; the probe and its unchanged copy on the target."""
    since = route.target.mark()
    sent = send_probe(route.source, route.definition)
    try:
        arrived = route.target.wait_for(
            route.route.message, where=same_payload(sent), since=since, timeout=ARRIVAL_TIMEOUT
        )
    except ExpectationError:
        arrived_frames = route.target.frames(route.route.message, since=since)
        pytest.fail(explain_mismatch(route, sent, arrived_frames), pytrace=False)
    return sent, arrived


# -- per route -----------------------------------------------------------------------


@pytest.mark.requirement(
    "GW-001", clause="routing table routes: the routed message reaches the target channel"
)
def test_route_forwards_the_message(route: RouteUnderTest) -> None:
    since = route.target.mark()
    sent = send_probe(route.source, route.definition)
    route.target.wait_for(
        route.route.message,
        where=lambda f: f.timestamp >= sent.timestamp,
        since=since,
        timeout=ARRIVAL_TIMEOUT,
    )


@pytest.mark.requirement(
    "GW-002",
    clause="routing table routes.max_latency_ms: source-to-target latency, "
    f"median of {LATENCY_SAMPLES} frames",
)
def test_route_latency_within_limit(
    route: RouteUnderTest, record_figure: Callable[[str, float], None]
) -> None:
    latencies = []
    for _ in range(LATENCY_SAMPLES):
        sent, arrived = _exchange(route)
        latencies.append(arrived.timestamp - sent.timestamp)
    median = statistics.median(latencies)
    record_figure(f"latency_median_s[{route.route}]", round(median, 6))
    shown = ", ".join(f"{t * 1000:.2f}" for t in latencies)
    assert median <= route.limit, (
        f"route {route.route}: median latency {median * 1000:.2f} ms over the limit of "
        f"{route.limit * 1000:g} ms (samples: {shown} ms)"
    )


@pytest.mark.requirement(
    "GW-003",
    clause="routing table routes: payload forwarded unchanged "
    "(every signal; DBC counter/checksum, SAE J1850 CRC8)",
)
def test_route_keeps_signals_intact(route: RouteUnderTest) -> None:
    sent, arrived = _exchange(route)
    assert arrived.signals == sent.signals, explain_mismatch(route, sent, [arrived])
    problem = checksum_problem(arrived.data, route.definition, declared(route.definition))
    assert problem is None, f"route {route.route}: forwarded frame's checksum: {problem}"


@pytest.mark.requirement(
    "GW-004", clause="routing table routes: forwarded on the message's own DBC ID and format"
)
def test_route_keeps_the_frame_id(route: RouteUnderTest) -> None:
    since = route.target.mark()
    sent = send_probe(route.source, route.definition)
    arrived = route.target.wait_for(
        None, where=same_payload(sent), since=since, timeout=ARRIVAL_TIMEOUT
    )
    assert (arrived.arbitration_id, arrived.is_extended_id, arrived.is_fd) == (
        sent.arbitration_id,
        sent.is_extended_id,
        sent.is_fd,
    ), (
        f"route {route.route}: the probe's payload arrived as {arrived.id_text()} "
        f"({'FD' if arrived.is_fd else 'classic'}), sent as {sent.id_text()} "
        f"({'FD' if sent.is_fd else 'classic'}):\n  sent:    {sent.describe()}\n"
        f"  arrived: {arrived.describe(sent.timestamp)}"
    )


# -- per direction ---------------------------------------------------------------------


@pytest.mark.requirement(
    "GW-005",
    clause="routing table: frames not routed (undeclared IDs, blocked messages) stay on their side",
)
def test_unrouted_frames_stay_on_their_side(crossing: Crossing, can: Channels) -> None:
    source = can[crossing.source]
    target = can[crossing.target]
    databases = [require_db(source), require_db(target)]
    since = target.mark()
    sent = [source.send_raw(unknown_id(databases), LEAK_PAYLOAD)]
    for blocked in crossing.blocked:
        sent.append(send_probe(source, databases[0].message(blocked.message)))
    keys = {(frame.arbitration_id, frame.data) for frame in sent}

    def leaked(frame: Frame) -> bool:
        return (frame.arbitration_id, frame.data) in keys

    leaked.__qualname__ = "one of the frames sent on " + ", ".join(
        f"{f.name or f.id_text()}" for f in sent
    )
    target.expect_never(None, where=leaked, since=since, for_=crossing.window)


# -- the snapshot (signal routing) -----------------------------------------------------


@pytest.mark.requirement(
    "GW-006",
    clause=f"routing table snapshot: snapshot signals carry their source values within "
    f"{SNAPSHOT_CYCLES} snapshot cycles",
)
def test_snapshot_follows_its_sources(
    snapshot: SnapshotRoute, can: Channels, residual_bus: ResidualBus
) -> None:
    source, target = can[snapshot.source], can[snapshot.target]
    source_db, target_db = require_db(source), require_db(target)
    snapshot_definition = target_db.message(snapshot.message)
    expected: dict[str, object] = {}
    for message, signals in snapshot.sources().items():
        try:
            values = residual_bus.get(message)
        except UnknownNameError:
            pytest.skip(f"{message} is not simulated on this bench: cannot change it")
        definition = source_db.message(message)
        changes = {}
        for signal_name, snapshot_signal in signals.items():
            signal = definition.get_signal_by_name(signal_name)
            changes[signal_name] = nudged(signal, values.get(signal_name, default_value(signal)))
            step = float(snapshot_definition.get_signal_by_name(snapshot_signal).scale) / 2
            value = float(plain(changes[signal_name]))
            expected[snapshot_signal] = between(value - step, value + step)
        residual_bus.set(message, changes)  # returns once the new values are on the bus
    cycle = float(snapshot_definition.cycle_time or 0) / 1000 or 1.0
    since = target.mark()
    target.wait_for(
        snapshot.message,
        where=expected,
        since=since,
        timeout=SNAPSHOT_CYCLES * cycle + SNAPSHOT_MARGIN,
    )


@pytest.mark.requirement(
    "GW-007",
    clause="DBC counter/checksum signals of the snapshot: rolling counter increments, "
    "SAE J1850 CRC8 valid",
)
def test_snapshot_counter_and_checksum_valid(snapshot: SnapshotRoute, can: Channels) -> None:
    target = can[snapshot.target]
    target.check_protection(snapshot.message, samples=SNAPSHOT_SAMPLES)


@pytest.mark.requirement(
    "GW-008", clause="DBC GenMsgCycleTime of the snapshot, mean interval +-10 %"
)
def test_snapshot_cycle_time(snapshot: SnapshotRoute, can: Channels) -> None:
    target = can[snapshot.target]
    if not require_db(target).message(snapshot.message).cycle_time:
        pytest.skip(f"{snapshot.message} has no GenMsgCycleTime")
    target.cycle_time(snapshot.message, samples=SNAPSHOT_SAMPLES).check(CYCLE_TOLERANCE)
