"""ISO-TP conformance suite (ISO 15765-2): parametrised by the DUT profile of the bench.

The tester plays raw frames (see ``isotp_support.py``) on the bench's ``[diagnostics]``
addresses; the messages it segments are ReadDataByIdentifier requests and responses
built from the DIDs the profile says are readable in the default session without
security:

``segmented_read``
    multi-frame responses: the longest DID alone, and the longest DIDs together
    (at most seven: a request naming eight or more is a robustness test of its own).

A bench without ``[diagnostics]`` (or a profile without such DIDs) gives an empty
parameter set, which pytest reports as a skip. The DUT's N_Bs/N_Cr come from its
simulated UDS server when the bench simulates it, else from the standard (1000 ms).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.bench import Bench
from harness.diag.config import DiagConfig
from harness.diag.profile import DidDefinition, DutProfile
from harness.pytest_plugin.support import collection_profile, import_beside

import_beside(__file__, "isotp_support")
from isotp_support import (  # noqa: E402
    MARGIN,
    MAX_DIDS,
    DutTimers,
    RawTester,
    rdbi_response_length,
    readable_dids,
)

SF_CAPACITY = 7
"""Payload bytes of a classic single frame with normal addressing (one less with an
address byte: the tests compare against the tester's own capacity)."""


def segmented_reads(profile: DutProfile | None) -> dict[str, list[DidDefinition]]:
    """Named DID lists whose ReadDataByIdentifier response needs a first frame."""
    if profile is None:
        return {}
    dids = readable_dids(profile)
    cases: dict[str, list[DidDefinition]] = {}
    if dids and rdbi_response_length(dids[:1]) > SF_CAPACITY:
        cases[f"longest-{dids[0].name}"] = dids[:1]
    several = dids[:MAX_DIDS]
    if len(several) > 1 and rdbi_response_length(several) > SF_CAPACITY:
        cases[f"{len(several)}-DIDs"] = several
    return cases


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "segmented_read" not in metafunc.fixturenames:
        return
    cases = segmented_reads(collection_profile(metafunc.config))
    metafunc.parametrize("segmented_read", list(cases.values()), ids=list(cases))


@pytest.fixture
def diag(bench: Bench) -> DiagConfig:
    config = bench.config.diagnostics
    if config is None:
        pytest.skip(f"bench {bench.name!r} has no [diagnostics] section")
    if config.profile is None:
        pytest.skip(f"bench {bench.name!r}: [diagnostics] names no DUT profile")
    if not config.channel:
        pytest.skip(f"bench {bench.name!r}: its [diagnostics] have no CAN channel (DoIP only)")
    return config


@pytest.fixture
def tester(bench: Bench, diag: DiagConfig, dut_timers: DutTimers) -> Iterator[RawTester]:
    """A raw-frame tester on the DUT's diagnostics channel. Afterwards the DUT must answer
    TesterPresent within its longest ISO-TP timeout and P2, so a test that failed mid-transfer
    does not leave the next one talking to a DUT still waiting for a frame."""
    raw = RawTester(bench.can[diag.channel], diag)
    yield raw
    raw.settle(max(dut_timers.n_bs, dut_timers.n_cr) + diag.p2 + MARGIN)


@pytest.fixture
def long_read(diag: DiagConfig, tester: RawTester) -> list[DidDefinition]:
    """The longest default-session read (at most seven DIDs): the most consecutive frames
    the suite can ask for without security. Skips when it fits one frame."""
    assert diag.profile is not None
    dids = readable_dids(diag.profile)[:MAX_DIDS]
    if not dids or rdbi_response_length(dids) <= tester.sf_capacity + 1 + tester.cf_capacity:
        pytest.skip("no default-session read of the DUT profile spans two consecutive frames")
    return dids


@pytest.fixture
def long_request(diag: DiagConfig, tester: RawTester) -> bytes:
    """A ReadDataByIdentifier request that needs a first frame and two consecutive frames:
    the profile's default-session DIDs, repeated when there are too few (a DUT may refuse
    repeats; the transport-layer tests only need an answer)."""
    assert diag.profile is not None
    dids = readable_dids(diag.profile)
    if not dids:
        pytest.skip("the DUT profile names no DID readable in the default session")
    wanted = tester.ff_capacity + tester.cf_capacity + 1
    chosen: list[DidDefinition] = []
    while 1 + 2 * len(chosen) < wanted:
        chosen.append(dids[len(chosen) % len(dids)])
    if len(chosen) > MAX_DIDS:
        pytest.skip(f"a request spanning two consecutive frames needs {len(chosen)} DIDs")
    return bytes([0x22]) + b"".join(d.id.to_bytes(2, "big") for d in chosen)


@pytest.fixture(scope="session")
def dut_timers(bench: Bench) -> DutTimers:
    """N_Bs/N_Cr of the DUT: its simulated UDS server's transport timeout when the bench
    simulates the DUT, else the standard's 1000 ms."""
    from harness.sim.uds.server import UdsServer  # noqa: PLC0415 - only benches with diagnostics

    config = bench.config.diagnostics
    if config is None or config.channel not in bench.config.can:
        return DutTimers()
    dut_node = bench.config.can[config.channel].dut_node
    for ecu in bench.sims.values():
        if dut_node is None or ecu.definition.node != dut_node:
            continue
        for service in ecu.services:
            if isinstance(service, UdsServer):
                timeout = service.config.isotp.timeout_ms / 1000
                return DutTimers(n_bs=timeout, n_cr=timeout)
    return DutTimers()
