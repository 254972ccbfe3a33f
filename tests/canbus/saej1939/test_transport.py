"""Offline TP reassembly: BAM, RTS/CTS, aborts, and what does not add up."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from harness.canbus.saej1939.addressing import build_id
from harness.canbus.saej1939.transport import (
    ABORT,
    BAM,
    CTS,
    RTS,
    TP_CM,
    TP_DT,
    Reassembled,
    Reassembler,
)

DM1 = 65226


def announce(
    control: int, payload: bytes, pgn: int, source: int, destination: int
) -> tuple[int, bytes]:
    packets = -(-len(payload) // 7)
    data = bytes(
        [control, *len(payload).to_bytes(2, "little"), packets, 0xFF if control == BAM else 16]
    )
    data += pgn.to_bytes(3, "little")
    return build_id(TP_CM, source=source, destination=destination, priority=7), data


def packets(payload: bytes, source: int, destination: int) -> list[tuple[int, bytes]]:
    can_id = build_id(TP_DT, source=source, destination=destination, priority=7)
    chunks = [payload[i : i + 7] for i in range(0, len(payload), 7)]
    return [(can_id, bytes([n]) + chunk.ljust(7, b"\xff")) for n, chunk in enumerate(chunks, 1)]


def transfer(
    control: int, payload: bytes, source: int = 0x00, destination: int = 0xFF
) -> list[tuple[int, bytes]]:
    return [
        announce(control, payload, DM1, source, destination),
        *packets(payload, source, destination),
    ]


def run(r: Reassembler, frames: list[tuple[int, bytes]]) -> list[Reassembled]:
    done = [r.feed(can_id, data, float(n)) for n, (can_id, data) in enumerate(frames)]
    return [d for d in done if d is not None]


@given(payload=st.binary(min_size=9, max_size=1785), rts=st.booleans())
def test_any_long_message_is_rebuilt_exactly(payload: bytes, rts: bool) -> None:
    frames = transfer(RTS, payload, 0x21, 0x00) if rts else transfer(BAM, payload)
    [done] = run(Reassembler(), frames)
    assert done.data == payload
    assert done.pgn == DM1
    assert done.bam is not rts
    assert (done.source, done.destination) == ((0x21, 0x00) if rts else (0x00, 0xFF))


def test_cts_from_the_receiver_does_not_disturb_the_transfer() -> None:
    payload = bytes(range(20))
    frames = transfer(RTS, payload, 0x21, 0x00)
    cts = (
        build_id(TP_CM, source=0x00, destination=0x21),
        bytes([CTS, 3, 1, 0xFF, 0xFF, 0xCA, 0xFE, 0]),
    )
    [done] = run(Reassembler(), [frames[0], cts, *frames[1:]])
    assert done.data == payload


def test_abort_from_either_side_drops_the_connection() -> None:
    payload = bytes(range(30))
    frames = transfer(RTS, payload, 0x21, 0x00)
    abort = (
        build_id(TP_CM, source=0x00, destination=0x21),
        bytes([ABORT, 3, 0xFF, 0xFF, 0xFF, 0xCA, 0xFE, 0]),
    )
    r = Reassembler()
    assert run(r, [frames[0], frames[1], abort, *frames[2:]]) == []
    assert r.aborted == 1


def test_transfers_from_two_sources_interleave() -> None:
    a, b = bytes(range(10, 30)), bytes(range(50, 80))
    fa, fb = transfer(BAM, a, 0x00), transfer(BAM, b, 0x21)
    mixed = [x for pair in zip(fa, fb, strict=False) for x in pair] + fb[len(fa) :]
    done = run(Reassembler(), mixed)
    assert {(d.source, d.data) for d in done} == {(0x00, a), (0x21, b)}


def test_bad_announcements_and_sequence_numbers_are_counted_not_rebuilt() -> None:
    r = Reassembler()
    wrong_count = announce(BAM, bytes(20), DM1, 0, 0xFF)
    wrong_count = (wrong_count[0], wrong_count[1][:3] + bytes([9]) + wrong_count[1][4:])
    assert run(r, [wrong_count, *packets(bytes(20), 0, 0xFF)]) == []
    frames = transfer(BAM, bytes(20))
    frames[1] = (frames[1][0], bytes([7]) + frames[1][1][1:])
    assert run(r, frames) == []
    assert r.problems == 2


def test_packets_without_an_announcement_are_ignored() -> None:
    assert run(Reassembler(), packets(bytes(20), 0, 0xFF)) == []
