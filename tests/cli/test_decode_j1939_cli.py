"""``harness decode`` on a J1939 trace: every SA and priority decodes by PGN, and a
multi-packet DM1 sent by BAM comes out reassembled with all its DTCs."""

from __future__ import annotations

import json
from pathlib import Path

import can
import pyarrow.parquet as pq
import pytest
from clitools import run_main

from harness.canbus.saej1939.addressing import build_id
from harness.canbus.saej1939.dm import DM1, DiagnosticMessage, Dtc, encode_dm
from harness.canbus.saej1939.transport import BAM, TP_CM, TP_DT

ROOT = Path(__file__).resolve().parents[2]
TRUCK = ROOT / "dbc" / "j1939_truck.dbc"
T0 = 1_700_000_000.0
EEC1 = bytes([0, 125, 140, 0x40, 0x1F, 0, 0, 125])  # 1000 rpm
ACTIVE = DiagnosticMessage(
    amber_warning_lamp=1,
    dtcs=(Dtc(110, 0, 3), Dtc(190, 2, 1), Dtc(524287, 31, 126)),
)


def frames() -> list[can.Message]:
    def msg(t: float, can_id: int, data: bytes) -> can.Message:
        return can.Message(
            timestamp=T0 + t, arbitration_id=can_id, data=data, is_extended_id=True, channel=0
        )

    out = [
        msg(0.00 + n / 100, build_id(61444, source=sa, priority=prio), EEC1)
        for n, (sa, prio) in enumerate([(0x00, 3), (0x01, 3), (0x17, 2), (0x21, 6), (0x00, 7)])
    ]
    payload = encode_dm(ACTIVE)
    packets = -(-len(payload) // 7)
    cm = bytes([BAM, len(payload), 0, packets, 0xFF]) + DM1.to_bytes(3, "little")
    out.append(msg(0.10, build_id(TP_CM, source=0x00, priority=7), cm))
    for n in range(packets):
        chunk = payload[n * 7 : n * 7 + 7].ljust(7, b"\xff")
        out.append(
            msg(0.15 + n * 0.05, build_id(TP_DT, source=0x00, priority=7), bytes([n + 1]) + chunk)
        )
    out.append(msg(0.40, build_id(59904, source=0xF9, destination=0x21), DM1.to_bytes(3, "little")))
    return out


@pytest.fixture
def trace(tmp_path: Path) -> Path:
    path = tmp_path / "truck.asc"
    with can.ASCWriter(str(path)) as writer:
        for message in frames():
            writer.on_message_received(message)
    return path


def test_every_source_and_priority_decodes_by_pgn(
    trace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_main(
        capsys, "decode", str(trace), "--dbc", str(TRUCK), "--format", "jsonl"
    )
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    eec1 = [r for r in records if r["name"] == "EEC1"]
    assert [(r["source_address"], r["priority"]) for r in eec1] == [
        (0x00, 3), (0x01, 3), (0x17, 2), (0x21, 6), (0x00, 7),
    ]  # fmt: skip
    assert all(r["signals"]["EngSpeed"] == 1000.0 for r in eec1)
    [request] = [r for r in records if r["name"] == "RQST"]
    assert (request["source_address"], request["destination_address"]) == (0xF9, 0x21)
    assert request["signals"]["RequestedPGN"] == DM1
    assert "1 reassembled by J1939 TP" in err
    assert "0 unknown" not in err  # the TP frames themselves are not in the database


def test_bam_dm1_is_reassembled_with_every_dtc(
    trace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_main(
        capsys, "decode", str(trace), "--dbc", str(TRUCK), "--format", "jsonl"
    )
    assert code == 0, err
    [dm1] = [json.loads(line) for line in out.splitlines() if '"DM1"' in line]
    assert dm1["data"] == encode_dm(ACTIVE).hex()
    assert dm1["signals"]["AmberWarningLampStatus"] == "On"
    assert dm1["dtcs"] == ["SPN 110 FMI 0 OC 3", "SPN 190 FMI 2 OC 1", "SPN 524287 FMI 31 OC 126"]
    code, table, _ = run_main(capsys, "decode", str(trace), "--dbc", str(TRUCK))
    [line] = [line for line in table.splitlines() if " DM1 " in line]
    assert " TP " in line
    assert "DTC=(SPN 190 FMI 2 OC 1)" in line
    assert "SA=0x00" in line


def test_the_columnar_engine_reassembles_the_dm1_too(
    trace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code, _, err = run_main(
        capsys, "decode", str(trace), "--dbc", str(TRUCK), "--to", "parquet", str(out)
    )
    assert code == 0, err
    assert "1 reassembled by J1939 TP" in err
    [dm1] = pq.read_table(out / "DM1" / "part-0.parquet").to_pylist()
    assert (dm1["pgn"], dm1["source_address"], dm1["priority"]) == (DM1, 0x00, 7)
    assert dm1["AmberWarningLampStatus"] == 1
    packets = -(-len(encode_dm(ACTIVE)) // 7)
    assert dm1["timestamp"] == pytest.approx(
        0.15 + 0.05 * (packets - 1)
    )  # its last TP.DT (ASC: from 0)
    eec1 = pq.read_table(out / "EEC1" / "part-0.parquet")
    assert eec1.num_rows == 5
