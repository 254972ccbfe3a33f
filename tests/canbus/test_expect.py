"""Expectations: what passes, what fails, and what a failure says.

Window logic is tested on a hand-built history whose mark lies in the past, so
each check is decided by the recorded frames alone (no waiting, no timing luck).
Live waits use two channels on one virtual bus.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from harness import clock
from harness.canbus.channel import Channel
from harness.canbus.database import SignalDatabase
from harness.canbus.expect import (
    Matcher,
    Step,
    TrafficView,
    _union,
    above,
    below,
    between,
    one_of,
)
from harness.canbus.frame import Frame
from harness.canbus.history import History, Mark
from harness.exceptions import ExpectationError, HarnessError, NotVerifiedError, UnknownNameError


def status(t: float, locked: str = "LOCKED", speed: float = 0.0, rx: bool = True) -> Frame:
    return Frame(
        t,
        0x110,
        b"",
        "c",
        is_rx=rx,
        name="Status",
        signals={"Locked": locked, "Speed": speed, "Counter": 0},
        bus_timestamp=t,
    )


def req(t: float) -> Frame:
    return Frame(t, 0x100, b"", "c", name="Req", signals={"Unlock": 1, "Level": 7}, bus_timestamp=t)


def recorded(db: SignalDatabase, *frames: Frame) -> tuple[TrafficView, Mark]:
    """A view whose mark is one hour ago, with frames stamped relative to it."""
    history = History("c", maxlen=1000)
    mark = history.mark()
    t0 = clock.now() - 3600
    for f in frames:
        f.timestamp += t0
        f.bus_timestamp += t0
        history.append(f)
    return TrafficView("c", db, history), Mark(mark.seq, t0)


def in_thread(action: Callable[[], object]) -> threading.Thread:
    thread = threading.Thread(target=action, daemon=True)
    thread.start()
    return thread


# -- wait_for -------------------------------------------------------------------


def test_wait_for_sees_a_reply_that_arrived_before_the_wait_began(
    tester: Channel, ecu: Channel
) -> None:
    since = tester.mark()
    ecu.send("Status", Locked="UNLOCKED", Speed=12.5)
    ecu.send_raw(0x7FF)  # the reply is in flight before wait_for starts; the mark still covers it
    tester.wait_for(0x7FF, since=since)
    got = tester.wait_for("Status", where={"Locked": "UNLOCKED"}, since=since, timeout=0)
    assert got["Speed"] == 12.5
    assert got.timestamp >= since.timestamp


def test_wait_for_returns_when_the_ecu_answers(tester: Channel, ecu: Channel) -> None:
    since = ecu.mark()
    thread = in_thread(
        lambda: (
            ecu.wait_for("Req", where={"Unlock": 1}, since=since, timeout=30),
            ecu.send("Status", Locked="UNLOCKED"),
        )
    )
    mark = tester.mark()
    sent = tester.send("Req", Unlock=1)
    got = tester.wait_for("Status", where={"Locked": "UNLOCKED"}, since=mark, timeout=30)
    thread.join(30)
    assert got.timestamp > sent.timestamp
    assert str(got["Locked"]) == "UNLOCKED"


@pytest.mark.parametrize(
    "where",
    [
        {"Locked": "UNLOCKED"},
        {"Locked": 1},
        {"Speed": 12.34},
        {"Speed": between(12, 13)},
        {"Speed": above(12)},
        {"Speed": below(13)},
        {"Counter": range(3, 5)},
        {"Locked": one_of("LOCKED", "UNLOCKED")},
        {"Speed": lambda v: v > 12},
        lambda f: f["Counter"] == 3,
    ],
    ids=[
        "value-name",
        "raw-number",
        "float",
        "between",
        "above",
        "below",
        "range",
        "one_of",
        "lambda-value",
        "frame-predicate",
    ],
)
def test_where_accepts_names_numbers_ranges_helpers_and_predicates(
    mini_db: SignalDatabase, where: object
) -> None:
    view, mark = recorded(mini_db, status(0.1, "UNLOCKED", 12.34))
    view.history.since(0)[0].signals = mini_db.decode(
        mini_db.message("Status"),
        mini_db.encode("Status", {"Locked": 1, "Speed": 12.34, "Counter": 3})[1],
    )
    assert view.wait_for("Status", where=where, since=mark, timeout=0)  # type: ignore[arg-type]


def test_a_timeout_reports_the_frames_that_came_and_the_closest_miss(
    mini_db: SignalDatabase,
) -> None:
    view, mark = recorded(
        mini_db, status(0.010, "LOCKED", 5), status(0.030, "LOCKED", 30), req(0.040)
    )
    with pytest.raises(ExpectationError) as failure:
        view.wait_for("Status", where={"Locked": "UNLOCKED", "Speed": 30}, since=mark, timeout=0)
    text = str(failure.value)
    assert "expected Status where Locked == 'UNLOCKED', Speed == 30 on 'c'" in text
    assert "received 2 frame(s) of Status" in text
    assert "+0.0100s c rx Status Locked=LOCKED Speed=5" in text
    assert "closest miss at +0.0300 s: Locked='LOCKED' (wanted 'UNLOCKED')" in text
    assert "trace: not recorded" in text
    assert isinstance(failure.value, AssertionError)
    assert isinstance(failure.value, HarnessError)
    assert [f.signals["Speed"] for f in failure.value.evidence] == [5, 30]  # type: ignore[attr-defined]


def test_a_timeout_with_no_frame_of_the_message_lists_the_other_traffic(
    mini_db: SignalDatabase,
) -> None:
    view, mark = recorded(mini_db, req(0.01), req(0.02))
    with pytest.raises(
        ExpectationError, match=r"no Status arrived(.|\n)*other traffic on 'c': Req x2"
    ):
        view.wait_for("Status", since=mark, timeout=0)


def test_frames_the_channel_sent_itself_do_not_satisfy_a_wait(mini_db: SignalDatabase) -> None:
    view, mark = recorded(mini_db, status(0.01, rx=False))
    with pytest.raises(ExpectationError, match="received nothing"):
        view.wait_for("Status", since=mark, timeout=0)


def test_a_live_wait_times_out_with_evidence(tester: Channel, ecu: Channel) -> None:
    since = tester.mark()
    ecu.send("Status", Locked="LOCKED")
    with pytest.raises(ExpectationError, match="Locked='LOCKED' \\(wanted 'UNLOCKED'\\)"):
        tester.wait_for("Status", where={"Locked": "UNLOCKED"}, since=since, timeout=0.05)


@pytest.mark.parametrize(
    ("message", "where", "error"),
    [
        ("Stats", None, "no message 'Stats' (did you mean 'Status'?)"),
        ("Status", {"Lockd": 1}, "no signal 'Lockd' (did you mean 'Locked'?)"),
        ("Status", {"Locked": "UNLOKED"}, "no value 'UNLOKED' (did you mean 'UNLOCKED'"),
        ("Status", {"Speed": "FAST"}, "the signal has no value table"),
    ],
)
def test_bad_names_fail_at_once_not_as_a_timeout(
    tester: Channel, message: str, where: dict[str, object] | None, error: str
) -> None:
    with pytest.raises(UnknownNameError) as failure:
        tester.wait_for(message, where=where, timeout=3600)
    assert error in str(failure.value)


# -- expect_never / expect_always -------------------------------------------------


def test_expect_never_passes_and_returns_the_harmless_frames(mini_db: SignalDatabase) -> None:
    view, mark = recorded(mini_db, status(0.1, "LOCKED"), status(0.6, "UNLOCKED"))
    seen = view.expect_never("Status", where={"Locked": "UNLOCKED"}, for_=0.5, since=mark)
    assert [str(f["Locked"]) for f in seen] == ["LOCKED"]  # the 0.6 s frame is after the window


def test_expect_never_fails_at_the_first_matching_frame(mini_db: SignalDatabase) -> None:
    view, mark = recorded(mini_db, status(0.1, "LOCKED"), status(0.25, "UNLOCKED"))
    with pytest.raises(
        ExpectationError,
        match=r"expected no Status where Locked == 'UNLOCKED' .* "
        r"but one arrived at \+0\.2500 s",
    ):
        view.expect_never("Status", where={"Locked": "UNLOCKED"}, for_=0.5, since=mark)


def test_expect_never_without_a_message_means_silence(mini_db: SignalDatabase) -> None:
    quiet, mark = recorded(mini_db, status(0.2))
    assert quiet.expect_never(for_=0.1, since=mark) == []
    with pytest.raises(ExpectationError, match="expected no any frame"):
        quiet.expect_never(for_=0.3, since=mark)


def test_expect_always_needs_every_frame_to_match_and_at_least_one(mini_db: SignalDatabase) -> None:
    view, mark = recorded(
        mini_db, status(0.1, "LOCKED"), status(0.2, "LOCKED"), status(0.3, "UNLOCKED")
    )
    assert len(view.expect_always("Status", {"Locked": "LOCKED"}, for_=0.25, since=mark)) == 2
    with pytest.raises(
        ExpectationError, match=r"at \+0\.3000 s: Locked='UNLOCKED' \(wanted 'LOCKED'\)"
    ):
        view.expect_always("Status", {"Locked": "LOCKED"}, for_=0.5, since=mark)
    with pytest.raises(ExpectationError, match="but none arrived"):
        view.expect_always("Status", {"Locked": "LOCKED"}, for_=0.05, since=mark)


# -- sequences, collect, cycle time ------------------------------------------------


def test_a_sequence_passes_in_order_within_each_step(mini_db: SignalDatabase) -> None:
    view, mark = recorded(mini_db, req(0.01), status(0.03, "LOCKED"), status(0.05, "UNLOCKED"))
    frames = view.expect_sequence(
        Step("Req"), Step("Status", {"Locked": "UNLOCKED"}, within=0.05), since=mark, timeout=0
    )
    assert [f.name for f in frames] == ["Req", "Status"]
    assert str(frames[1]["Locked"]) == "UNLOCKED"


def test_a_sequence_step_that_comes_too_late_fails_naming_the_step(mini_db: SignalDatabase) -> None:
    view, mark = recorded(mini_db, req(0.01), status(0.2, "UNLOCKED"))
    with pytest.raises(ExpectationError) as failure:
        view.expect_sequence(Step("Req"), Step("Status", within=0.05), since=mark, timeout=0)
    text = str(failure.value)
    assert "expected step 2 of 2: Status on 'c' within 0.05 s of step 1" in text
    assert "step 1 ok: +0.0100s c rx Req" in text


def test_a_sequence_out_of_order_fails(mini_db: SignalDatabase) -> None:
    view, mark = recorded(mini_db, status(0.01), req(0.02))
    with pytest.raises(ExpectationError, match="expected step 2 of 2: Status"):
        view.expect_sequence(Step("Req"), Step("Status"), since=mark, timeout=0)


def test_collect_returns_the_matching_frames_in_the_window(mini_db: SignalDatabase) -> None:
    view, mark = recorded(
        mini_db, status(0.1, speed=1), req(0.2), status(0.3, speed=2), status(0.9, speed=3)
    )
    assert [f["Speed"] for f in view.collect("Status", duration=0.5, since=mark)] == [1, 2]
    assert len(view.collect(duration=0.5, since=mark)) == 3


def test_cycle_time_statistics_and_tolerance_check(mini_db: SignalDatabase) -> None:
    stamps = [0.0, 0.020, 0.040, 0.060, 0.100]  # one 40 ms gap
    view, mark = recorded(mini_db, *(status(t) for t in stamps))
    measured = view.cycle_time("Status", samples=4, since=mark)
    assert measured.expected == pytest.approx(0.020)
    assert measured.mean == pytest.approx(0.025)
    assert measured.maximum == pytest.approx(0.040)
    assert measured.minimum == pytest.approx(0.020)
    measured.check(tolerance=0.3)
    with pytest.raises(
        ExpectationError,
        match=r"every interval of Status .* within 20 ms ±10%(.|\n)*worst: 40.000 ms",
    ):
        measured.check(tolerance=0.1, each=True)


def test_cycle_time_needs_a_cycle_time_to_check_against(mini_db: SignalDatabase) -> None:
    view, mark = recorded(mini_db, req(0.0), req(0.1))
    measured = view.cycle_time("Req", samples=1, since=mark)
    with pytest.raises(ExpectationError, match="no GenMsgCycleTime"):
        measured.check()
    assert view.cycle_time(
        "Req", samples=1, since=mark, expected=0.1
    ).check().mean == pytest.approx(0.1)


def test_cycle_time_fails_when_too_few_frames_arrive(mini_db: SignalDatabase) -> None:
    view, mark = recorded(mini_db, status(0.0))
    with pytest.raises(ExpectationError, match="expected 3 frames of Status .* got 1"):
        view.cycle_time("Status", samples=2, since=mark, timeout=0)


def test_cycle_time_of_a_live_periodic_message(tester: Channel, ecu: Channel) -> None:
    with ecu.send_periodic("Status", Locked="LOCKED"):
        measured = tester.cycle_time("Status", samples=10)
    assert len(measured.intervals) == 10
    measured.check(tolerance=0.5)


def test_reaction_time_measures_stimulus_to_response(tester: Channel, ecu: Channel) -> None:
    since = ecu.mark()
    thread = in_thread(
        lambda: (
            ecu.wait_for("Req", since=since, timeout=30),
            ecu.send("Status", Locked="UNLOCKED"),
        )
    )
    reaction = tester.reaction_time(
        "Req", {"Unlock": 1}, "Status", {"Locked": "UNLOCKED"}, timeout=30
    )
    thread.join(30)
    assert reaction.stimulus.name == "Req"
    assert not reaction.stimulus.is_rx
    assert reaction.seconds == reaction.response.timestamp - reaction.stimulus.timestamp > 0


def test_check_protection_passes_on_good_frames_and_lists_bad_ones(
    tester: Channel, ecu: Channel
) -> None:
    from harness.sim.nodes import SimulatedNodes

    with SimulatedNodes(ecu, ["Ecu"]) as rbs:
        frames = tester.check_protection("Guarded", samples=5)
        assert len(frames) == 5
        rbs.inject("Guarded", "bad_checksum")
        ecu.send_raw(0x7FF)
        tester.wait_for(0x7FF, timeout=30)
        with pytest.raises(
            ExpectationError, match=r"Guarded on 'tester': \d+ counter/checksum problem"
        ):
            tester.check_protection("Guarded", samples=5)
        with pytest.raises(NotVerifiedError, match="Req: no counter or checksum declared"):
            tester.check_protection("Req")


def test_a_matcher_names_the_ids_whose_frames_can_wake_its_wait(mini_db: SignalDatabase) -> None:
    status = mini_db.message("Status")
    assert Matcher(mini_db, "Status", {"Locked": "UNLOCKED"}).ids == frozenset({status.frame_id})
    assert Matcher(mini_db, 0x7FF, lambda f: True).ids == frozenset({0x7FF})
    assert Matcher(mini_db, None, lambda f: True).ids is None  # a predicate over any frame
    telemetry = mini_db.message("Telemetry")  # extended: the 29-bit ID a frame carries
    assert Matcher(mini_db, "Telemetry", None).ids == frozenset({telemetry.frame_id})


def test_a_sequence_wait_is_woken_by_the_frames_of_every_step(mini_db: SignalDatabase) -> None:
    view, since = recorded(mini_db, req(0.01), status(0.02, "UNLOCKED"))
    frames = view.expect_sequence(Step("Req"), Step("Status"), since=since, timeout=0)
    assert [f.name for f in frames] == ["Req", "Status"]
    assert _union([frozenset({1}), frozenset({2})]) == frozenset({1, 2})
    assert _union([frozenset({1}), None]) is None


@pytest.mark.parametrize(
    ("wanted", "matches"),
    [(pytest.approx(12.34, abs=0.01), True), (pytest.approx(50), False)],
    ids=["approx-equal", "approx-different"],
)
def test_where_accepts_any_value_that_compares_with_eq(
    mini_db: SignalDatabase, wanted: object, matches: bool
) -> None:
    view, mark = recorded(mini_db, status(0.1, "UNLOCKED", 12.34))
    if matches:
        assert view.wait_for("Status", where={"Speed": wanted}, since=mark, timeout=0)
    else:
        with pytest.raises(ExpectationError):
            view.wait_for("Status", where={"Speed": wanted}, since=mark, timeout=0)


def test_the_first_line_names_the_deciding_frame_and_the_error_its_origin(
    mini_db: SignalDatabase,
) -> None:
    """The headline a report shows (the message's first line) names the frame that decided
    the failure; ``origin`` is the mark its times count from, for the traffic section."""
    view, mark = recorded(mini_db, status(0.1, "LOCKED"), status(0.25, "UNLOCKED"))
    with pytest.raises(ExpectationError) as never:
        view.expect_never("Status", where={"Locked": "UNLOCKED"}, for_=0.5, since=mark)
    first = str(never.value).splitlines()[0]
    assert first.endswith(
        "; deciding frame: +0.2500s c rx Status Locked=UNLOCKED Speed=0 Counter=0"
    )
    assert never.value.deciding is never.value.evidence[-1]
    assert never.value.origin == mark.timestamp
    with pytest.raises(ExpectationError) as wait:
        view.wait_for("Status", where={"Speed": 30}, since=mark, timeout=0)
    first = str(wait.value).splitlines()[0]
    assert first.endswith(
        "; deciding frame: +0.2500s c rx Status Locked=UNLOCKED Speed=0 Counter=0"
    )
    assert "closest miss at +0.2500 s: Speed=0 (wanted 30)" in str(wait.value)
