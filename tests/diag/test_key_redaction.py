"""Security-access keys never reach the evidence: the bus carries them, recordings do not."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from harness.diag.transport.on_can import is_security_key, redacted

if TYPE_CHECKING:
    from uds_rig import RigFactory

REQUEST = 0x7E0


@pytest.mark.parametrize(
    ("payload", "secret"),
    [
        (bytes([0x27, 0x02, 1, 2, 3, 4]), True),
        (bytes([0x27, 0x04, 9]), True),
        (bytes([0x27, 0x01]), False),  # requestSeed
        (bytes([0x27, 0x00, 1]), False),  # not a sub-function
        (bytes([0x22, 0xF1, 0x90]), False),
        (bytes([0x27]), False),
    ],
)
def test_which_payloads_are_keys(payload: bytes, secret: bool) -> None:
    assert is_security_key(payload) is secret


@pytest.mark.parametrize(
    ("frame", "prefix", "kept"),
    [
        ("06 27 02 11 22 33 44 cc", 0, "06 27 02 00 00 00 00 00"),  # single frame
        ("10 0a 27 02 11 22 33 44", 0, "10 0a 27 02 00 00 00 00"),  # first frame
        ("21 55 66 77 88 cc cc cc", 0, "21 00 00 00 00 00 00 00"),  # consecutive frame
        ("f1 06 27 02 11 22 33 44", 1, "f1 06 27 02 00 00 00 00"),  # extended addressing
    ],
)
def test_key_bytes_are_zeroed_and_the_rest_kept(frame: str, prefix: int, kept: str) -> None:
    assert redacted(bytes.fromhex(frame), prefix) == bytes.fromhex(kept)


def test_flow_control_frames_are_left_alone() -> None:
    assert redacted(bytes.fromhex("30 00 00"), 0) is None


def test_an_unlock_leaves_no_key_in_the_history(make_rig: RigFactory) -> None:
    rig = make_rig()
    rig.uds.session("extended")
    since = rig.tester.mark()
    rig.uds.unlock(1)  # the server checked the real key: the bus carried it
    sent = [f for f in rig.tester.history.since(since.seq) if f.arbitration_id == REQUEST]
    keys = [f for f in sent if f.data[1:3] == bytes([0x27, 0x02])]
    assert keys, [f.data.hex(" ") for f in sent]
    assert all(set(f.data[3:]) <= {0} for f in keys)  # recorded with the key zeroed
    received = [f for f in rig.ecu.history.since(0) if f.arbitration_id == REQUEST and f.is_rx]
    assert any(f.data[1:3] == bytes([0x27, 0x02]) and any(f.data[3:]) for f in received)
