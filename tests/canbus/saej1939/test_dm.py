"""DM1/DM2 payloads: lamps and DTCs both ways, the standard's "no DTC", bad input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.canbus.saej1939.dm import DiagnosticMessage, DmError, Dtc, encode_dm, parse_dm
from harness.exceptions import EncodeError

dtcs = st.builds(Dtc, st.integers(1, (1 << 19) - 1), st.integers(0, 31), st.integers(0, 126))
lamps = st.integers(0, 3)


@given(
    st.builds(DiagnosticMessage, lamps, lamps, lamps, lamps, st.lists(dtcs, max_size=20).map(tuple))
)
def test_encode_then_parse_gives_back_the_message(dm: DiagnosticMessage) -> None:
    assert parse_dm(encode_dm(dm)) == dm


def test_high_spn_bits_sit_in_the_top_of_the_fmi_byte() -> None:
    assert Dtc(spn=0x7FFFF, fmi=0x1F, occurrences=1).pack() == bytes([0xFF, 0xFF, 0xFF, 0x01])


def test_no_active_dtc_is_an_empty_list_and_a_short_payload_an_error() -> None:
    assert parse_dm(bytes([0, 0xFF, 0, 0, 0, 0, 0xFF, 0xFF])).dtcs == ()
    with pytest.raises(DmError, match="too short"):
        parse_dm(b"\x00\xff")


def test_out_of_range_dtc_is_refused() -> None:
    with pytest.raises(EncodeError, match="SPN"):
        Dtc(spn=1 << 19, fmi=0).pack()
