"""Property-based fuzzing of the DUT's UDS server and ISO-TP layer (hypothesis).

Each example is a short sequence of requests (or raw ISO-TP frames on the DUT's request
ID); after it the suite checks that

- the DUT still answers TesterPresent within P2 (and answered every request that was not
  allowed to stay silent);
- nothing secured by the DUT profile (DIDs, writes, routines, download) was granted and
  no security level unlocked unless the right key for the last seed was sent in that
  example;
- the DUT did not reset (unless the example sent ECUReset): its cyclic message did not
  pause with its rolling counter restarting.

Between examples the DUT goes back to the default session; only if the example sent a
key are the failed attempts cleared (the right key), and a lock-out ended (a power cycle
through ``[power]`` when the bench has it, else waiting out the delay). A failing example
is shrunk by hypothesis and the assertion message is a reproducer to paste into a test.

Runs are reproducible (``derandomize=True``, no example database). The number of examples
per test is a CI budget; ask for more with ``HARNESS_FUZZ_EXAMPLES=500``. Requests that
change the DUT's memory (writes, routines, downloads, clearing DTCs) are fuzzed only when
the DUT is simulated.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from security_support import (
    DESTRUCTIVE_SERVICES,
    KEY_MUTATIONS,
    RESET_SERVICES,
    Examiner,
    RawFrame,
    Step,
    fuzz_examples,
)

from harness.diag.client import UdsClient
from harness.diag.names import SESSIONS as SESSION_NUMBERS

pytestmark = pytest.mark.requires("diagnostics")

UDS_CAMPAIGNS = {"security": 30, "data": 30, "mixed": 40}
"""Examples per UDS campaign in CI (``HARNESS_FUZZ_EXAMPLES`` overrides each)."""
ISOTP_EXAMPLES = 40
MAX_STEPS = 8
MAX_FRAMES = 10

UNSAFE_ISOTP_SIDS = frozenset({0x10, 0x11, 0x27, 0x28, 0x85}) | DESTRUCTIVE_SERVICES
"""First payload bytes the ISO-TP fuzzer avoids: frames that happen to form a valid
request must not change sessions, reset, count as key attempts or write memory."""


def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=fuzz_examples(examples),
        deadline=None,
        derandomize=True,
        database=None,
        phases=(Phase.explicit, Phase.generate, Phase.shrink),
        suppress_health_check=(HealthCheck.too_slow, HealthCheck.data_too_large),
        report_multiple_bugs=False,
    )


def uds_steps(
    uds: UdsClient, focus: str, *, destructive: bool, unlock_session: str = "extended"
) -> st.SearchStrategy[list[Step]]:
    """Request sequences for one campaign (``focus``), after an optional session prefix
    (extended, programming).

    ``security``: enter ``unlock_session``, requestSeed, then sendKey with the right key
    exact, truncated, extended or bit-flipped; reads of secured DIDs and results of secured
    routines; SecurityAccess with random sub-functions and lengths. ``data``:
    ReadDataByIdentifier with 1 to 12 DIDs (profile or random), odd lengths, DTC reads,
    writes. ``mixed``: all of these, TesterPresent, CommunicationControl, ECUReset, and
    random bytes. Each campaign keeps its own requests frequent (hypothesis' generation is
    far from uniform over a long ``one_of``)."""
    profile = uds.profile
    dids = sorted(d.id for d in profile.dids.values()) or [0xF190]
    secured = sorted(d.id for d in profile.dids.values() if d.security) or dids
    routines = sorted(r.id for r in profile.routines.values()) or [0x0201]
    secured_routines = sorted(r.id for r in profile.routines.values() if r.security) or routines
    levels = sorted(
        {d.security for d in profile.dids.values() if d.security}
        | {r.security for r in profile.routines.values() if r.security}
    ) or [1]
    did = st.one_of(st.sampled_from(dids), st.integers(0, 0xFFFF))
    did_bytes = did.map(lambda i: i.to_bytes(2, "big"))
    level = st.sampled_from(levels)

    def raw(*parts: st.SearchStrategy[bytes]) -> st.SearchStrategy[list[Step]]:
        return st.tuples(*parts).map(lambda p: [Step(payload=b"".join(p))])

    def fixed(data: bytes) -> st.SearchStrategy[bytes]:
        return st.just(data)

    def either(
        first: st.SearchStrategy[list[Step]], second: st.SearchStrategy[list[Step]]
    ) -> st.SearchStrategy[list[Step]]:
        """One or the other, evenly (shrinks towards ``second``); only the chosen one is
        drawn, so shrinking never spends a run on the other."""
        return st.booleans().flatmap(lambda pick: first if pick else second)

    def id_bytes(ids: list[int]) -> st.SearchStrategy[bytes]:
        return st.sampled_from(ids).map(lambda i: i.to_bytes(2, "big"))

    one = st.integers(0, 0xFF).map(lambda b: bytes([b]))
    tail = st.binary(max_size=4)
    session = raw(fixed(b"\x10"), st.sampled_from([b"\x01", b"\x03", b"\x02"]) | one)
    seed = raw(fixed(b"\x27"), level.map(lambda v: bytes([v])) | one, tail)
    key = st.builds(
        Step, level=level, mutation=st.sampled_from(KEY_MUTATIONS), arg=st.integers(0, 0x3F)
    )
    seed_then_key = st.tuples(level, key).map(
        lambda pair: [
            Step(payload=bytes([0x10, SESSION_NUMBERS[unlock_session]])),
            Step(payload=bytes([0x27, pair[0]])),
            replace(pair[1], level=pair[0]),
        ]
    )
    secured_read = raw(fixed(b"\x22"), id_bytes(secured))
    secured_routine = raw(
        fixed(b"\x31"), st.sampled_from([b"\x02", b"\x03"]), id_bytes(secured_routines)
    )
    did_list = either(
        st.lists(did_bytes, min_size=7, max_size=12).map(
            lambda ids: [Step(b"\x22" + b"".join(ids))]
        ),
        st.lists(did_bytes, min_size=1, max_size=6).map(
            lambda ids: [Step(b"\x22" + b"".join(ids))]
        ),
    )
    odd_read = raw(fixed(b"\x22"), st.binary(max_size=5).filter(lambda b: len(b) % 2 == 1))
    dtcs = raw(fixed(b"\x19"), one, tail)
    tester = raw(fixed(b"\x3e"), st.sampled_from([b"\x00", b"\x80"]) | one, tail)
    communication = raw(fixed(b"\x28"), one, one)
    reset = raw(fixed(b"\x11"), st.sampled_from([b"\x01", b"\x03"]))
    allowed = [
        s for s in range(256) if destructive or s not in DESTRUCTIVE_SERVICES | RESET_SERVICES
    ]
    random_request = raw(st.sampled_from(allowed).map(lambda s: bytes([s])), st.binary(max_size=16))
    others = [session, secured_read, secured_routine, did_list, odd_read, dtcs, tester]
    others += [communication, random_request]
    if destructive:
        write = raw(fixed(b"\x2e"), did_bytes, st.binary(min_size=1, max_size=24))
        routine = raw(fixed(b"\x31"), one, id_bytes(routines), tail)
        download = raw(fixed(b"\x34\x00\x44"), st.binary(min_size=8, max_size=8))
        others += [write, routine, download, reset]
    if focus == "security":
        step = either(seed_then_key, st.one_of(secured_read, secured_routine, seed, session))
    elif focus == "data":
        step = either(did_list, st.one_of(odd_read, dtcs, session, *others[-3:]))
    else:
        step = either(seed_then_key, st.one_of(*others))
    prefix = st.sampled_from([(), (b"\x10\x03",), (b"\x10\x03", b"\x10\x02")])
    steps = st.lists(step, min_size=1, max_size=MAX_STEPS)
    return st.tuples(prefix, steps).map(
        lambda p: [Step(payload=r) for r in p[0]] + [s for group in p[1] for s in group]
    )


def isotp_frames(padding: int | None) -> st.SearchStrategy[list[RawFrame]]:
    """Frames a tester would never send: bad PCI types, single frames with length 0 or
    above 7, first frames with short or huge lengths, consecutive frames out of sequence,
    flow controls with reserved flow status, and frames short of their DLC."""
    byte = st.integers(0, 0xFF)
    safe_sid = byte.filter(lambda b: b not in UNSAFE_ISOTP_SIDS)
    payload = st.binary(max_size=7)

    def frame(head: bytes, body: bytes, pad: bool) -> RawFrame:
        data = (head + body)[:8]
        if pad and padding is not None:
            data = data.ljust(8, bytes([padding]))
        return RawFrame(data)

    pad = st.booleans()
    single = st.builds(
        lambda n, sid, body, p: frame(bytes([n, sid]), body, p),
        st.integers(0, 0x0F),
        safe_sid,
        payload,
        pad,
    )
    first = st.builds(
        lambda n, sid, body, p: frame(bytes([0x10 | (n >> 8), n & 0xFF, sid]), body, p),
        st.integers(0, 0xFFF),
        safe_sid,
        st.binary(max_size=5),
        pad,
    )
    consecutive = st.builds(
        lambda sn, body, p: frame(bytes([0x20 | sn]), body, p),
        st.integers(0, 0x0F),
        payload,
        pad,
    )
    flow = st.builds(
        lambda fs, bs, stmin, p: frame(bytes([0x30 | fs, bs, stmin]), b"", p),
        st.integers(0, 0x0F),
        byte,
        byte,
        pad,
    )
    reserved = st.builds(
        lambda pci, body, p: frame(bytes([pci]), body, p),
        st.integers(0x40, 0xFF),
        payload,
        pad,
    )
    empty = st.just(RawFrame(b""))
    return st.lists(
        st.one_of(single, first, consecutive, flow, reserved, empty),
        min_size=1,
        max_size=MAX_FRAMES,
    )


@pytest.mark.requirement(
    "SEC-010",
    clause="ISO 14229-1 7.5, 10.4 (SecurityAccess), 11.2; ISO/SAE 21434 10.4.2 (fuzz testing)",
)
@pytest.mark.parametrize("focus", list(UDS_CAMPAIGNS))
def test_fuzzed_uds_requests(
    uds: UdsClient, examiner: Examiner, simulated_dut: bool, focus: str
) -> None:
    """Random request sequences never silence, reset or unlock the DUT."""
    unlock_session = examiner.security_session or "extended"
    if unlock_session == "programming":
        unlock_session = "extended"  # programming is entered from extended; keys go there

    strategy = uds_steps(uds, focus, destructive=simulated_dut, unlock_session=unlock_session)

    @fuzz_settings(UDS_CAMPAIGNS[focus])
    @given(steps=strategy)
    def examine(steps: list[Step]) -> None:
        transcript = examiner.run_steps(steps)
        examiner.restore(transcript)
        assert not transcript.violations, examiner.reproducer(transcript)

    examine()


@pytest.mark.requirement(
    "SEC-011",
    clause="ISO 15765-2 9.6 (N_PCI), 9.8 (unexpected N_PDU); ISO/SAE 21434 10.4.2 (fuzz testing)",
)
def test_fuzzed_isotp_frames(uds: UdsClient, examiner: Examiner) -> None:
    """Malformed ISO-TP frames on the request ID never silence or reset the DUT."""

    @fuzz_settings(ISOTP_EXAMPLES)
    @given(frames=isotp_frames(uds.config.isotp.padding))
    def examine(frames: list[RawFrame]) -> None:
        transcript = examiner.run_frames(frames)
        examiner.restore(transcript)
        assert not transcript.violations, examiner.reproducer(transcript)

    examine()
