"""Channel: sending by name and raw, periodic sends, decoding on arrival, failure paths."""

from __future__ import annotations

from collections.abc import Callable

import can
import pytest

from harness.canbus.channel import Channel
from harness.canbus.config import CanChannelConfig
from harness.canbus.database import SignalDatabase
from harness.exceptions import BusError, EncodeError, ExpectationError, UnknownNameError


def barrier(sender: Channel, receiver: Channel) -> None:
    """Wait until everything ``sender`` sent so far has reached ``receiver`` (the bus is FIFO)."""
    since = receiver.mark()
    sender.send_raw(0x7FF)
    receiver.wait_for(0x7FF, since=since, timeout=30)


def test_send_by_name_fills_in_initial_values(tester: Channel, ecu: Channel) -> None:
    since = ecu.mark()
    sent = tester.send("Req", Unlock=1)
    got = ecu.wait_for("Req", since=since, timeout=30)
    assert got.data == sent.data == bytes([1, 7, 0, 0, 0, 0, 0, 0])  # Level's GenSigStartValue is 7
    assert dict(got.signals) == {"Unlock": 1, "Level": 7}
    assert not sent.is_rx
    assert got.is_rx


def test_send_takes_a_dict_and_keywords(tester: Channel, ecu: Channel) -> None:
    since = ecu.mark()
    tester.send("Req", {"Unlock": 1}, Level=9)
    assert ecu.wait_for("Req", since=since, timeout=30)["Level"] == 9


@pytest.mark.parametrize(
    ("call", "error", "text"),
    [
        (lambda ch: ch.send("Reqq"), UnknownNameError, "no message 'Reqq' (did you mean 'Req'?)"),
        (
            lambda ch: ch.send("Req", Unlok=1),
            UnknownNameError,
            "no signal 'Unlok' (did you mean 'Unlock'?)",
        ),
        (
            lambda ch: ch.send("Req", Level=300),
            EncodeError,
            'cannot encode Req: Expected signal "Level"',
        ),
        (lambda ch: ch.send("Status", Locked="OPEN"), EncodeError, "Status"),
        (lambda ch: ch.send_raw(0x800, b"", is_extended_id=False), EncodeError, "11-bit"),
        (lambda ch: ch.send_raw(0x2000_0000), EncodeError, "29-bit"),
        (lambda ch: ch.send_raw(0x100, bytes(9)), EncodeError, "max 8; use is_fd=True"),
        (
            lambda ch: ch.send_raw(0x100, bytes(9), is_fd=True),
            EncodeError,
            "not a CAN FD frame length",
        ),
    ],
)
def test_bad_sends_raise_clearly_and_send_nothing(
    tester: Channel,
    ecu: Channel,
    call: Callable[[Channel], object],
    error: type[Exception],
    text: str,
) -> None:
    since = ecu.mark()
    with pytest.raises(error) as failure:
        call(tester)
    assert text in str(failure.value)
    barrier(tester, ecu)
    assert [f.arbitration_id for f in ecu.frames(since=since)] == [0x7FF]


def test_send_raw_picks_extended_ids_and_keeps_unknown_frames_raw(
    tester: Channel, ecu: Channel
) -> None:
    since = ecu.mark()
    tester.send_raw(0x1234, b"\x01\x02")
    tester.send_raw(0x55, bytes(12), is_fd=True)
    ext = ecu.wait_for(0x1234, since=since, timeout=30)
    fd = ecu.wait_for(0x55, since=since, timeout=30)
    assert ext.is_extended_id
    assert ext.name is None
    assert ext.data == b"\x01\x02"
    assert fd.is_fd
    assert fd.dlc == 12
    assert "0x00001234" in ext.describe()


def test_extended_messages_decode_by_name(tester: Channel, ecu: Channel) -> None:
    since = ecu.mark()
    tester.send("Telemetry", Voltage=13.8)
    got = ecu.wait_for("Telemetry", since=since, timeout=30)
    assert got.is_extended_id
    assert got["Voltage"] == pytest.approx(13.8)


def test_an_undecodable_payload_is_kept_raw_and_explained(tester: Channel, ecu: Channel) -> None:
    since = tester.mark()
    ecu.send_raw(0x110, b"\x01\x02")  # Status is 8 bytes
    got = tester.wait_for(0x110, since=since, timeout=30)
    assert got.name == "Status"
    assert not got.signals
    assert got.decode_error
    with pytest.raises(ExpectationError, match="closest miss .* undecodable"):
        tester.wait_for("Status", where={"Locked": "LOCKED"}, since=since, timeout=0)


def test_periodic_sends_follow_updates_and_stop(tester: Channel, ecu: Channel) -> None:
    since = tester.mark()
    periodic = ecu.send_periodic("Status", Locked="LOCKED", period=0.005)
    tester.wait_for("Status", where={"Locked": "LOCKED"}, since=since, timeout=30)
    periodic.update(Locked="UNLOCKED")
    assert periodic.values == {"Locked": "UNLOCKED"}
    tester.wait_for("Status", where={"Locked": "UNLOCKED"}, timeout=30)
    periodic.stop()
    barrier(ecu, tester)
    tester.expect_never("Status", for_=0.05)
    sent = [f for f in ecu.history.since(0) if f.name == "Status"]
    assert sent
    assert not any(f.is_rx for f in sent)


def test_periodic_uses_the_database_cycle_time_or_says_it_has_none(tester: Channel) -> None:
    with tester.send_periodic("Status") as periodic:
        assert periodic.period == pytest.approx(0.020)
    with pytest.raises(EncodeError, match="Req has no GenMsgCycleTime; pass period="):
        tester.send_periodic("Req")
    with pytest.raises(EncodeError, match="Level"):
        tester.send_periodic("Req", Level=999, period=0.1)


def test_an_update_with_a_bad_value_keeps_the_old_values(tester: Channel) -> None:
    with tester.send_periodic("Status", Speed=10, period=0.05) as periodic:
        with pytest.raises(EncodeError):
            periodic.update(Speed=1000)
        assert periodic.values == {"Speed": 10}


def test_close_is_idempotent_and_stops_sending(
    mini_db: SignalDatabase, virtual_channel_name: str
) -> None:
    channel = Channel("c", can.Bus(interface="virtual", channel=virtual_channel_name), mini_db)
    channel.send_periodic("Status", period=0.01)
    channel.close()
    channel.close()
    with pytest.raises(BusError, match="'c' is closed"):
        channel.send("Req")


def test_opening_an_unknown_interface_names_the_channel() -> None:
    config = CanChannelConfig(name="body", interface="no-such-interface", channel="x")
    with pytest.raises(
        BusError, match="cannot open CAN channel 'body' \\(interface 'no-such-interface'"
    ):
        Channel.open(config, None)


def test_a_bus_that_dies_fails_waits_with_a_bus_error(
    mini_db: SignalDatabase, virtual_channel_name: str
) -> None:
    bus = can.Bus(interface="virtual", channel=virtual_channel_name)

    def broken(timeout: float | None) -> tuple[None, bool]:
        raise can.CanOperationError("adapter unplugged")

    bus._recv_internal = broken  # type: ignore[method-assign]
    with Channel("c", bus, mini_db) as channel, pytest.raises(BusError, match="adapter unplugged"):
        channel.wait_for("Status", timeout=30)


def test_channels_without_a_database_still_send_and_receive_raw(virtual_channel_name: str) -> None:
    with (
        Channel("a", can.Bus(interface="virtual", channel=virtual_channel_name)) as a,
        Channel("b", can.Bus(interface="virtual", channel=virtual_channel_name)) as b,
    ):
        since = b.mark()
        a.send_raw(0x10, b"\xff")
        assert b.wait_for(0x10, since=since, timeout=30).data == b"\xff"
        with pytest.raises(Exception, match="has no database"):
            a.send("Req")
        with pytest.raises(UnknownNameError, match="no database to look up message 'Req'"):
            b.wait_for("Req", timeout=0)


def test_dut_messages_are_the_ones_the_dut_node_sends(
    mini_db: SignalDatabase, virtual_channel_name: str
) -> None:
    with Channel(
        "c", can.Bus(interface="virtual", channel=virtual_channel_name), mini_db, dut_node="Ecu"
    ) as ch:
        assert sorted(m.name for m in ch.dut_messages) == [
            "Beacon",
            "Guarded",
            "Safe",
            "Status",
            "Telemetry",
        ]


def test_taps_see_every_frame_both_ways_and_subscribers_only_received(
    tester: Channel, ecu: Channel
) -> None:
    tapped: list[tuple[str, bool]] = []
    subscribed: list[str] = []
    tester.tap(lambda f: tapped.append((f.name or f.id_text(), f.is_rx)))
    tester.subscribe(lambda f: subscribed.append(f.name or f.id_text()))
    tester.send("Req", Unlock=1)
    ecu.send("Status", Locked="LOCKED")
    barrier(ecu, tester)
    assert tapped == [("Req", False), ("Status", True), ("0x7FF", True)]
    assert subscribed == ["Status", "0x7FF"]
