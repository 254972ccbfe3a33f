"""The UDS server's seeded security faults: ``security_long_key_accepted`` (key length
unchecked) and ``reset_on_long_did_list`` (a long ReadDataByIdentifier crashes the ECU),
on a private rig and on a bench where the crash reboots the whole simulated ECU."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from harness import clock
from harness.bench import Bench
from harness.bench.diagnostics import open_uds
from harness.diag.client import UdsClient
from harness.sim.uds.server import REBOOT_TIME, UdsServer

if TYPE_CHECKING:
    from uds_rig import Rig

KEY_LEVEL = 1
EIGHT_DIDS = bytes([0x22]) + bytes.fromhex("F190 F187 F189 F191 F18C F186 0101 0102")


def seed_and_key(rig: Rig) -> tuple[bytes, bytes]:
    """A fresh seed and the right key for it (extended session, level 1)."""
    response = rig.exchange(bytes([0x27, KEY_LEVEL]))
    assert response is not None
    assert response[:2] == bytes([0x67, KEY_LEVEL]), response.hex(" ")
    seed = response[2:]
    security = rig.uds.config.security
    assert security is not None
    return seed, security.seed_key.key(KEY_LEVEL, seed)


def answers_again(uds: UdsClient, within: float = REBOOT_TIME + 3.0) -> bool:
    """TesterPresent until answered (a booting server is silent), at most ``within`` s."""
    deadline = clock.Deadline(within)
    while not deadline.expired():
        if uds.request(bytes.fromhex("3E 00"), timeout=0.2) == bytes.fromhex("7E 00"):
            return True
    return False


def send_key(rig: Rig, key: bytes) -> int | None:
    return rig.nrc(bytes([0x27, KEY_LEVEL + 1]) + key)


@pytest.mark.parametrize(
    ("change", "nrc"),
    [
        pytest.param(lambda k: k + b"\x00", 0x35, id="one-extra-byte"),
        pytest.param(lambda k: k + b"\xff\xff", 0x35, id="two-extra-bytes"),
        pytest.param(lambda k: k[:-1], 0x35, id="truncated"),
        pytest.param(lambda k: k, None, id="right-key"),
    ],
)
def test_key_length_is_checked_without_the_fault(
    rig: Rig, change: Callable[[bytes], bytes], nrc: int | None
) -> None:
    rig.uds.session("extended")
    _, key = seed_and_key(rig)
    assert send_key(rig, change(key)) == nrc
    assert rig.server.state.security_level == (KEY_LEVEL if nrc is None else None)


def test_fault_long_key_accepted_unlocks_with_one_extra_byte(rig: Rig) -> None:
    rig.faults.add("security_long_key_accepted")
    rig.uds.session("extended")
    _, key = seed_and_key(rig)
    assert send_key(rig, key + b"\xa5") is None
    assert rig.server.state.security_level == KEY_LEVEL
    assert rig.nrc(bytes.fromhex("22 03 00")) is None, "secured DID not granted after unlock"


def test_fault_long_key_accepted_still_rejects_other_wrong_keys(rig: Rig) -> None:
    """Only the right key plus exactly one byte gets in: a wrong key plus a byte, the right
    key plus two bytes and a truncated key stay invalidKey."""
    rig.faults.add("security_long_key_accepted")
    rig.uds.session("extended")
    _, key = seed_and_key(rig)
    assert send_key(rig, bytes(b ^ 0x01 for b in key) + b"\x00") == 0x35
    _, key = seed_and_key(rig)
    assert send_key(rig, key + b"\x00\x00") == 0x35
    rig.uds.unlock(KEY_LEVEL)  # resets the attempt counter before the limit
    rig.uds.session("extended")
    _, key = seed_and_key(rig)
    assert send_key(rig, key[:-1]) == 0x35
    assert rig.server.state.security_level is None


def test_eight_dids_are_answered_without_the_fault(rig: Rig) -> None:
    response = rig.exchange(EIGHT_DIDS)
    assert response is not None
    assert response[0] == 0x62
    assert rig.server.running


def test_fault_reset_on_long_did_list_spares_shorter_lists(rig: Rig) -> None:
    rig.faults.add("reset_on_long_did_list")
    assert rig.nrc(EIGHT_DIDS[:-2]) is None  # seven DIDs
    assert rig.nrc(bytes.fromhex("22 F1")) == 0x13  # odd length: not a DID list
    assert rig.server.running


def test_fault_reset_on_long_did_list_reboots_a_server_of_its_own(rig: Rig) -> None:
    """Without an ECU the server reboots alone: silent, stopped, back after the boot time
    in the default session with a fresh state."""
    rig.faults.add("reset_on_long_did_list")
    rig.uds.session("extended")
    sent = clock.now()
    assert rig.uds.request(EIGHT_DIDS, timeout=0.1) is None, "answered although it crashed"
    assert answers_again(rig.uds), "the server did not come back"
    assert clock.now() - sent >= REBOOT_TIME
    assert rig.server.running
    assert rig.server.state.session == "default"
    assert rig.server.state.requests == 1  # the TesterPresent after the boot


def test_fault_reset_on_long_did_list_stops_for_nine_dids_too(rig: Rig) -> None:
    rig.faults.add("reset_on_long_did_list")
    nine = EIGHT_DIDS + bytes.fromhex("0200")
    assert rig.uds.request(nine, timeout=0.1) is None


@pytest.fixture
def bcm_only(bcm_bench: Path) -> Iterator[Bench]:
    with Bench.open(bcm_bench) as bench:
        yield bench


def test_fault_reset_on_long_did_list_reboots_the_whole_ecu(bcm_only: Bench) -> None:
    """On a bench the crash power-cycles the simulated ECU: its cyclic messages pause for
    the boot time and their rolling counter starts again from zero."""
    ecu = bcm_only.sim("bcm")
    ecu.fault_on("reset_on_long_did_list")
    body = bcm_only.can.body
    body.wait_for("BCM_DoorStatus", where={"BCM_Counter": 3}, timeout=2.0)
    with open_uds(bcm_only) as uds:
        mark = body.mark()
        assert uds.request(EIGHT_DIDS, timeout=0.2) is None
        off = body.mark()  # the ECU is off by now: its next frame comes after the boot
        first = body.wait_for("BCM_DoorStatus", since=off, timeout=REBOOT_TIME + 3.0)
        before = [
            f for f in body.frames("BCM_DoorStatus", since=mark) if f.timestamp < first.timestamp
        ]
        last = before[-1] if before else None
        last_time = last.timestamp if last is not None else mark.timestamp
        assert first.timestamp - last_time >= REBOOT_TIME * 0.9, "no pause: not rebooted"
        if last is not None:
            assert first["BCM_Counter"] != (last["BCM_Counter"] + 1) % 16, "counter continued"
        assert first["BCM_Counter"] <= 1, "the counter did not start again"
        assert answers_again(uds), "the ECU did not come back"
        assert ecu.powered
        assert "reset_on_long_did_list" in ecu.diagnostic_faults
        server = next(s for s in ecu.services if isinstance(s, UdsServer))
        assert server.running
