"""J1939-21 identifiers: PDU1 (destination in PS) and PDU2 (group extension) both ways."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.canbus.saej1939.addressing import GLOBAL_ADDRESS, build_id, is_pdu1, parse_id, pgn_of
from harness.exceptions import EncodeError


def test_pdu2_broadcast_reads_group_extension_into_the_pgn() -> None:
    j1939 = parse_id(0x18FEF121)  # CCVS from SA 0x21
    assert (j1939.priority, j1939.pgn, j1939.source, j1939.destination) == (6, 65265, 0x21, 0xFF)


def test_pdu1_reads_ps_as_destination_not_pgn() -> None:
    j1939 = parse_id(0x18EA00F9)  # request from 0xF9 to 0x00
    assert (j1939.pgn, j1939.source, j1939.destination) == (59904, 0xF9, 0x00)


def test_data_page_and_extended_data_page_are_part_of_the_pgn() -> None:
    assert pgn_of(0x19FEF100) == 0x1FEF1  # DP = 1
    assert pgn_of(0x1BFEF100) == 0x3FEF1  # EDP and DP


@given(
    pgn=st.integers(0, 0x3FFFF),
    source=st.integers(0, 255),
    destination=st.integers(0, 255),
    priority=st.integers(0, 7),
)
def test_build_then_parse_gives_back_what_was_built(
    pgn: int, source: int, destination: int, priority: int
) -> None:
    if is_pdu1(pgn):
        pgn &= ~0xFF
    else:
        destination = GLOBAL_ADDRESS
    j1939 = parse_id(build_id(pgn, source=source, destination=destination, priority=priority))
    assert (j1939.pgn, j1939.source, j1939.destination, j1939.priority) == (
        pgn,
        source,
        destination,
        priority,
    )


@pytest.mark.parametrize(
    ("pgn", "kwargs", "fragment"),
    [
        (0x40000, {}, "out of range"),
        (65265, {"priority": 8}, "priority 8"),
        (65265, {"destination": 0x00}, "PDU2"),
        (0xEA01, {}, "low byte"),
        (59904, {"destination": 300}, "destination address 300"),
    ],
)
def test_impossible_identifiers_are_refused(
    pgn: int, kwargs: dict[str, int], fragment: str
) -> None:
    with pytest.raises(EncodeError, match=fragment):
        build_id(pgn, source=kwargs.pop("source", 0), **kwargs)
