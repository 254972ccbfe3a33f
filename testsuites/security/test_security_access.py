"""SecurityAccess conformance (ISO 14229-1 10.4; ISO/SAE 21434 10.4.2, verifying the
controls against brute force): the attempt limit and delay that stop key guessing, keys
of the wrong length, and long DID lists. Clauses are ISO 14229-1:2020's (SecurityAccess
is 9.4 in the 2013 edition).

Attempt limit and delay come from the simulated DUT when the bench simulates it, else
from defaults (``harness.diag.conformance.DutTiming``); the brute force test gives up after that
many wrong keys, so a DUT without a lock-out fails it in bounded time. Waiting out the
delay is inherent: this module takes the DUT's security delay (10 s on the virtual bench)
plus a margin.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from security_support import show

from harness import clock
from harness.diag.client import UdsClient
from harness.diag.conformance import MARGIN, DutTiming, negative
from harness.diag.profile import DidDefinition

pytestmark = pytest.mark.requires("diagnostics")

POLL = 0.5
"""Seconds between requestSeed probes while the delay runs (quiet in between)."""


def enter(uds: UdsClient, session: str) -> None:
    if session == "programming":
        uds.session("extended")
    uds.session(session)


def seed(uds: UdsClient, level: int) -> bytes:
    response = uds.request(bytes([0x27, level]))
    assert negative(response, 0x27) is None, f"requestSeed refused: {show(response)}"
    assert response is not None
    return response[2:]


def right_key(uds: UdsClient, level: int, seed_: bytes) -> bytes:
    assert uds.config.security is not None
    return uds.config.security.seed_key.key(level, seed_)


def rdbi(did: DidDefinition) -> bytes:
    return bytes([0x22]) + did.id.to_bytes(2, "big")


@pytest.mark.requirement(
    "SEC-001",
    clause="ISO 14229-1 10.4 (NRC 0x35, 0x36, 0x37, delay timer); ISO/SAE 21434 10.4.2",
)
def test_brute_force_is_locked_out(
    uds: UdsClient,
    security_level: int,
    security_session: str,
    secured_did: DidDefinition,
    dut_timing: DutTiming,
) -> None:
    """Wrong keys until exceededNumberOfAttempts (0x36), at most the DUT's limit; then
    requiredTimeDelayNotExpired (0x37) for seeds and keys, the right key included, even
    after a session change; after the delay SecurityAccess works again."""
    level = security_level
    enter(uds, security_session)
    nrcs: list[int | None] = []
    last_seed = b""
    for _ in range(dut_timing.max_attempts):
        last_seed = seed(uds, level)
        wrong = bytes(b ^ 0xFF for b in right_key(uds, level, last_seed))
        nrcs.append(negative(uds.request(bytes([0x27, level + 1]) + wrong), 0x27))
        if nrcs[-1] != 0x35:
            break
    locked_at = clock.now()
    shown = ", ".join("positive" if n is None else f"0x{n:02X}" for n in nrcs)
    assert nrcs[-1] == 0x36, (
        f"brute force not stopped: {len(nrcs)} wrong keys (the DUT's limit is "
        f"{dut_timing.max_attempts}) got NRCs {shown}, never exceededNumberOfAttempts (0x36)"
    )
    assert len(nrcs) == dut_timing.max_attempts or not dut_timing.known, (
        f"locked out after {len(nrcs)} wrong keys, the DUT's limit is {dut_timing.max_attempts}"
    )

    # During the delay: no seed, and not even the right key of the last seed gets in.
    assert negative(uds.request(bytes([0x27, level])), 0x27) == 0x37, "requestSeed in the delay"
    key = right_key(uds, level, last_seed)
    answer = uds.request(bytes([0x27, level + 1]) + key)
    assert negative(answer, 0x27) is not None, "the right key unlocked during the delay"
    assert negative(uds.request(rdbi(secured_did)), 0x22) == 0x33, (
        f"{secured_did.label} readable during the delay"
    )
    uds.session("default")
    enter(uds, security_session)  # a session change must not end the delay
    assert negative(uds.request(bytes([0x27, level])), 0x27) == 0x37, (
        "a session change ended the security delay"
    )

    # The delay runs out by itself: probe requestSeed, quietly in between.
    rxid = uds.config.address.response_id
    deadline = clock.Deadline(dut_timing.security_delay + 2 * MARGIN)
    answered: int | None = 0x37
    while answered == 0x37 and not deadline.expired():
        uds.channel.expect_never(rxid, for_=min(POLL, deadline.remaining()))
        enter(uds, security_session)  # S3 may have ended the session meanwhile
        answered = negative(uds.request(bytes([0x27, level])), 0x27)
    released = clock.now() - locked_at
    assert answered is None, f"still refused {released:.1f} s after the lock-out"
    if dut_timing.known:
        assert released >= dut_timing.security_delay - MARGIN, (
            f"delay ended after {released:.1f} s, the DUT's is {dut_timing.security_delay} s"
        )
    uds.unlock(level)
    assert negative(uds.request(rdbi(secured_did)), 0x22) is None


KEY_CHANGES: dict[str, Callable[[bytes], bytes]] = {
    "one-byte-extra": lambda k: k + b"\x00",
    "one-byte-extra-ff": lambda k: k + b"\xff",
    "one-byte-short": lambda k: k[:-1],
    "first-bit-flipped": lambda k: bytes([k[0] ^ 0x01]) + k[1:],
    "last-bit-flipped": lambda k: k[:-1] + bytes([k[-1] ^ 0x80]),
}
"""The right key made wrong by one byte or one bit."""


@pytest.mark.requirement(
    "SEC-002", clause="ISO 14229-1 10.4.2 (securityKey), 10.4.3 (NRC 0x13, 0x35)"
)
@pytest.mark.parametrize("change", list(KEY_CHANGES.values()), ids=list(KEY_CHANGES))
def test_key_off_by_one_byte_or_bit_is_rejected(
    uds: UdsClient,
    security_level: int,
    security_session: str,
    secured_did: DidDefinition,
    change: Callable[[bytes], bytes],
) -> None:
    """The right key with a byte added or removed, or one bit flipped, is refused
    (invalidKey 0x35, or 0x13 for the length) and grants nothing."""
    level = security_level
    enter(uds, security_session)
    key = change(right_key(uds, level, seed(uds, level)))
    answer = uds.request(bytes([0x27, level + 1]) + key)
    nrc = negative(answer, 0x27)
    assert nrc in (0x13, 0x35), f"sendKey with a wrong key ({len(key)} bytes) got {show(answer)}"
    assert negative(uds.request(rdbi(secured_did)), 0x22) == 0x33, (
        f"{secured_did.label} readable after a wrong key"
    )
    uds.unlock(level)  # the right key clears the failed attempt before the next case


@pytest.mark.requirement("SEC-003", clause="ISO 14229-1 11.2 (ReadDataByIdentifier), 7.5")
def test_long_did_lists_are_answered_without_reset(uds: UdsClient) -> None:
    """ReadDataByIdentifier naming 1 to 10 DIDs (the profile's default-session DIDs,
    repeated) is answered within P2 each time: data, or NRC 0x13/0x14/0x31."""
    readable = [d for d in uds.profile.dids.values() if "default" in d.sessions and not d.security]
    if not readable:
        pytest.skip("the DUT profile has no DID readable in the default session")
    for count in range(1, 11):
        dids = [readable[i % len(readable)] for i in range(count)]
        request = bytes([0x22]) + b"".join(d.id.to_bytes(2, "big") for d in dids)
        answer = uds.request(request)
        assert answer is not None, f"no response to {count} DIDs ({show(request)}) within P2"
        nrc = negative(answer, 0x22)
        assert nrc in (None, 0x13, 0x14, 0x31), f"{count} DIDs: {show(answer)}"
    assert uds.request(bytes.fromhex("3E 00")) == bytes.fromhex("7E 00"), "DUT gone silent"
