"""``harness diag``: everyday reads from the command line, against the virtual bench."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from clitools import harness_script, run_main

from harness.bench import Bench

ROOT = Path(__file__).resolve().parents[2]


def test_read_did_through_the_console_script(bcm_bench: Path) -> None:
    result = subprocess.run(
        [str(harness_script()), "diag", "read-did", "--bench", str(bcm_bench), "VIN"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "VIN: WDEMX000000000001\n"


def test_read_several_dids_with_session_and_unlock(
    capsys: pytest.CaptureFixture[str], bcm_bench: Path
) -> None:
    code, out, err = run_main(
        capsys,
        "diag", "read-did", "--bench", str(bcm_bench), "--session", "extended", "--unlock", "1",
        "SupplyVoltage", "0xF187", "ImmobilizerData", "0xF18C",
    )  # fmt: skip
    assert code == 0, err
    assert out.splitlines() == [
        "SupplyVoltage: 13.8 V",
        "PartNumber: BCM-DEMO-0001",
        "ImmobilizerData: a1 b2 c3 d4 e5 f6 07 18 29 3a 4b 5c 6d 7e 8f 90",
        "SerialNumber: SN00004711",
    ]


def test_dtcs_and_identity(capsys: pytest.CaptureFixture[str], bcm_bench: Path) -> None:
    code, out, err = run_main(capsys, "diag", "dtcs", "--bench", str(bcm_bench), "--mask", "0x01")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["DTC", "name", "status", "status", "bits"]
    assert lines[1].split()[:3] == ["B1001-13", "DriverDoorMotorOpen", "0x2F"]
    assert "confirmedDTC" in lines[1]
    assert len(lines) == 2  # SupplyVoltageLow (0x28) does not have testFailed set
    code, out, err = run_main(capsys, "diag", "identity", "--bench", str(bcm_bench))
    assert code == 0, err
    assert "VIN              0xF190  WDEMX000000000001" in out
    assert "SoftwareVersion  0xF189  SW 1.4.2" in out


def test_mistakes_are_one_error_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, bcm_bench: Path
) -> None:
    code, out, err = run_main(capsys, "diag", "read-did", "--bench", str(bcm_bench), "VNI")
    assert code == 2
    assert err.startswith("error: DUT profile bcm.toml defines no DID 'VNI' (did you mean 'VIN'?)")
    assert len(err.splitlines()) == 1
    code, out, err = run_main(capsys, "diag", "read-did", "--bench", str(bcm_bench), "0x1234")
    assert out == ""
    assert (code, err) == (
        2, "error: ReadDataByIdentifier DID 0x1234: negative response 0x31 requestOutOfRange\n"
    )  # fmt: skip
    plain = tmp_path / "plain.toml"
    plain.write_text(f'[can.body]\ninterface = "virtual"\nchannel = "{tmp_path.name}"\n')
    code, _, err = run_main(capsys, "diag", "identity", "--bench", str(plain))
    assert code == 2
    assert "has no [diagnostics]" in err
    code, _, err = run_main(capsys, "diag", "dtcs", "--bench", str(plain), "--mask", "0x100")
    assert code == 2
    assert "does not fit a byte" in err


def test_read_did_on_a_doip_only_bench(
    capsys: pytest.CaptureFixture[str], bcm_bench: Path, tmp_path: Path
) -> None:
    """A bench with diagnostics over DoIP and no CAN channel: the entity is the simulated
    BCM's, served by another bench, reached only by its address."""
    with Bench.open(bcm_bench) as served:
        (host, port), (_, udp_port) = served.doip["bcm"].address, served.doip["bcm"].udp_address
        doip_only = tmp_path / "doip-only.toml"
        doip_only.write_text(
            f'[bench]\nname = "doip-only"\n'
            f'[diagnostics]\ntransport = "doip"\nprofile = "{ROOT}/fixtures/dut/bcm.toml"\n'
            f'[diagnostics.doip]\nhost = "{host}"\nport = {port}\nudp_port = {udp_port}\n'
            "target_address = 0x0010\n"
        )
        code, out, err = run_main(capsys, "diag", "read-did", "--bench", str(doip_only), "VIN")
    assert code == 0, err
    assert out == "VIN: WDEMX000000000001\n"
