"""The seeded ISO-TP faults of the simulated UDS server (``isotp_stmin_ignored``,
``isotp_no_padding``): switched on at bench open and at run time, measured on the bus."""

from __future__ import annotations

import dataclasses
import itertools
import statistics
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import can
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.bench import Bench
from harness.bench.diagnostics import open_uds
from harness.canbus.channel import Channel
from harness.diag.config import AddressConfig, IsoTpConfig
from harness.sim.ecu import DIAGNOSTIC_FAULTS
from harness.sim.uds.stack import NO_PADDING, STMIN_IGNORED, Deviation, EcuStack

if TYPE_CHECKING:
    from uds_rig import Rig, RigFactory

    from harness.canbus.frame import Frame
    from harness.canbus.history import Mark

RESPONSE = 0x7E8
LONG_READ = bytes.fromhex("22 F190 F187 F18C F189 0101 F191 0102")
"""Seven DIDs of the BCM profile: a 15-byte request (FF + 2 CFs), a 73-byte response
(FF + 10 CFs)."""
TESTER_STMIN_MS = 10.0
PACED = ("diagnostics.stmin_ms=20", "diagnostics.p2_ms=1000")
"""Bench overrides: the tester asks for STmin 20 ms, and waits long enough for ten
consecutive frames paced that way (P2 covers the whole response)."""


def ecu_frames(channel: Channel, since: Mark, kind: int) -> list[Frame]:
    """The ECU's frames of one N_PCI type (0 SF, 1 FF, 2 CF, 3 FC) the tester received."""
    return [f for f in channel.frames(RESPONSE, since=since) if f.data[0] >> 4 == kind]


def mean_gap(frames: list[Frame]) -> float:
    return statistics.fmean(
        b.bus_timestamp - a.bus_timestamp for a, b in itertools.pairwise(frames)
    )


def paced_rig(make_rig: RigFactory) -> Rig:
    """A rig whose tester asks for STmin 10 ms and no further flow controls."""
    return make_rig(
        tester={"isotp": IsoTpConfig(padding=0xCC, stmin_ms=TESTER_STMIN_MS, block_size=0)}
    )


def long_read(rig: Rig) -> list[Frame]:
    """Read the seven DIDs; the consecutive frames of the ECU's response."""
    since = rig.tester.mark()
    response = rig.exchange(LONG_READ)
    assert response is not None
    assert response[0] == 0x62
    frames = ecu_frames(rig.tester, since, 2)
    assert len(frames) == 10
    return frames


# -- the deviation itself -----------------------------------------------------------------


def test_the_faults_are_declared_diagnostic_primitives() -> None:
    assert STMIN_IGNORED in DIAGNOSTIC_FAULTS
    assert NO_PADDING in DIAGNOSTIC_FAULTS


@given(
    faults=st.sets(st.sampled_from(sorted(DIAGNOSTIC_FAULTS))),
    padding=st.none() | st.integers(0, 0xFF),
)
def test_deviation_parameters(faults: set[str], padding: int | None) -> None:
    """Only the two ISO-TP primitives matter; frames are padded exactly when the settings
    pad and no fault says otherwise; STmin is overridden to 0 exactly when ignored."""
    deviation = Deviation.from_faults(faults)
    assert deviation.stmin_ignored == (STMIN_IGNORED in faults)
    assert deviation.unpadded == (NO_PADDING in faults)
    params = deviation.params(IsoTpConfig(padding=padding))
    padded = padding is not None and NO_PADDING not in faults
    assert params["tx_padding"] == (padding if padded else None)
    assert params["tx_data_min_length"] == (8 if padded else None)
    assert params["override_receiver_stmin"] == (0.0 if STMIN_IGNORED in faults else None)


# -- switched on at run time ----------------------------------------------------------------


def test_stmin_ignored_while_the_fault_is_on(make_rig: RigFactory) -> None:
    rig = paced_rig(make_rig)
    stmin = TESTER_STMIN_MS / 1000
    assert mean_gap(long_read(rig)) >= stmin * 0.98
    rig.faults.add(STMIN_IGNORED)
    assert mean_gap(long_read(rig)) < stmin / 2, "STmin still honoured with the fault on"
    rig.faults.discard(STMIN_IGNORED)
    assert mean_gap(long_read(rig)) >= stmin * 0.98, "STmin not honoured after the fault"


def test_no_padding_while_the_fault_is_on(make_rig: RigFactory) -> None:
    """Every kind of frame the ECU sends goes out short while the fault is on: the single
    frame of a short answer, the flow control to a long request (decided when the first
    frame arrives), the last consecutive frame of a long answer."""
    rig = make_rig()
    since = rig.tester.mark()
    assert rig.exchange(bytes([0x3E, 0x00])) == bytes([0x7E, 0x00])
    assert rig.exchange(LONG_READ) is not None
    assert {len(f.data) for f in rig.tester.frames(RESPONSE, since=since)} == {8}

    rig.faults.add(NO_PADDING)
    since = rig.tester.mark()  # the long request first: its flow control is the first frame
    response = rig.exchange(LONG_READ)
    assert response is not None
    assert response[0] == 0x62
    assert [f.data for f in ecu_frames(rig.tester, since, 3)] == [bytes([0x30, 32, 0])]
    last = ecu_frames(rig.tester, since, 2)[-1]
    assert len(last.data) == 1 + (len(response) - 6) % 7, last
    since = rig.tester.mark()
    assert rig.exchange(bytes([0x3E, 0x00])) == bytes([0x7E, 0x00])
    assert [f.data for f in ecu_frames(rig.tester, since, 0)] == [bytes([0x02, 0x7E, 0x00])]

    rig.faults.discard(NO_PADDING)
    since = rig.tester.mark()
    assert rig.exchange(LONG_READ) is not None
    assert {len(f.data) for f in rig.tester.frames(RESPONSE, since=since)} == {8}


# -- switched on at bench open --------------------------------------------------------------


def test_faults_switched_on_when_the_bench_opens(bcm_bench: Path) -> None:
    faults = 'simulation.ecus.bcm.faults=["isotp_stmin_ignored", "isotp_no_padding"]'
    with Bench.open(bcm_bench, [faults, *PACED]) as bench:
        body = bench.can["body"]
        with open_uds(bench) as uds:
            since = body.mark()
            assert uds.request(bytes([0x3E, 0x00])) == bytes([0x7E, 0x00])
            assert [f.data for f in ecu_frames(body, since, 0)] == [bytes([0x02, 0x7E, 0x00])]
            since = body.mark()
            response = uds.request(LONG_READ)
            assert response is not None
            assert response[0] == 0x62
            consecutive = ecu_frames(body, since, 2)
            assert mean_gap(consecutive) < 0.010, "STmin 20 ms honoured with the fault on"
            assert len(consecutive[-1].data) < 8


def test_no_fault_at_bench_open_keeps_padding_and_stmin(bcm_bench: Path) -> None:
    with Bench.open(bcm_bench, PACED) as bench:
        body = bench.can["body"]
        with open_uds(bench) as uds:
            since = body.mark()
            assert uds.request(LONG_READ) is not None
            consecutive = ecu_frames(body, since, 2)
            assert mean_gap(consecutive) >= 0.020 * 0.98
            assert {len(f.data) for f in body.frames(RESPONSE, since=since)} == {8}


# -- failure paths --------------------------------------------------------------------------


@pytest.fixture
def pair() -> Iterator[tuple[Channel, Channel]]:
    name = f"isotp-faults-{uuid.uuid4().hex[:12]}"
    with (
        Channel("tester", can.Bus(interface="virtual", channel=name)) as tester,
        Channel("ecu", can.Bus(interface="virtual", channel=name)) as ecu,
    ):
        yield tester, ecu


def test_a_failing_deviation_source_does_not_stop_reception(
    pair: tuple[Channel, Channel], caplog: pytest.LogCaptureFixture
) -> None:
    """A source that raises (an ECU's fault set changing under it) is logged; the frame is
    still received and the channel's Notifier lives on."""
    tester, ecu = pair
    calls = itertools.count()

    def flaky() -> Deviation:
        if next(calls) > 0:
            raise RuntimeError("Set changed size during iteration")
        return Deviation(unpadded=True)

    address = AddressConfig()
    stack = EcuStack(ecu, address.ecu(), IsoTpConfig(), deviation=flaky)
    assert stack.deviation == Deviation(unpadded=True)
    stack.start()
    try:
        tester.send_raw(0x7E0, bytes([0x02, 0x3E, 0x00, 0xCC, 0xCC, 0xCC, 0xCC, 0xCC]))
        assert stack.recv(block=True, timeout=2.0) == bytearray([0x3E, 0x00])
        assert "deviation not refreshed" in caplog.text
        since = tester.mark()
        stack.send(bytes([0x7E, 0x00]))
        sent = tester.wait_for(RESPONSE, since=since, timeout=2.0)
        assert sent.data == bytes([0x02, 0x7E, 0x00]), "the last good deviation stays in force"
    finally:
        stack.stop()


def test_a_stack_without_source_keeps_its_settings(pair: tuple[Channel, Channel]) -> None:
    _, ecu = pair
    transport = dataclasses.replace(IsoTpConfig(), padding=0xAA)
    stack = EcuStack(ecu, AddressConfig().ecu(), transport)
    assert stack.refresh_deviation() == Deviation()
    assert stack.params.tx_padding == 0xAA
    assert stack.params.tx_data_min_length == 8
    assert stack.params.override_receiver_stmin is None
