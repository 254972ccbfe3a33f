"""Real-world DBCs written by others: each loads and encodes, or fails with one clear line.

The corpus lives outside the project (../shared/corpus) and is read in place;
without it these tests skip.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.canbus.database import SignalDatabase
from harness.exceptions import DatabaseError, HarnessError

STRICT_FAILURES = {
    # file -> whether strict=False loads it
    "opendbc/vw_mqb.dbc": True,  # overlapping signals
    "opendbc/tesla_can.dbc": False,  # a value table names a missing signal
    "cantools/issue_199.dbc": False,  # an 11-bit ID that is too big
    "cantools/bad_message_length.dbc": True,  # a signal outside its message
}


def assert_one_line_naming(error: DatabaseError, path: Path) -> None:
    text = str(error)
    assert "\n" not in text
    assert path.name in text
    assert text.startswith(str(path))


@pytest.mark.parametrize("strict", [True, False], ids=["strict", "lenient"])
def test_loads_and_encodes_or_fails_cleanly(corpus: Path, corpus_dbc: str, strict: bool) -> None:
    """Never a stray exception: either a DatabaseError line, or every message encodes
    its defaults (or says why with a HarnessError) and the frame decodes back."""
    path = corpus / "dbc" / corpus_dbc
    try:
        db = SignalDatabase.load(path, strict=strict)
    except DatabaseError as exc:
        assert_one_line_naming(exc, path)
        return
    encoded = 0
    refused: dict[str, str] = {}
    for message in db.messages:
        try:
            definition, data = db.encode(message.name)
        except HarnessError as exc:
            refused[message.name] = str(exc)
            continue
        assert definition is message
        assert len(data) == message.length
        decoded = db.decode(message, data)
        assert set(decoded) <= {s.name for s in message.signals}
        encoded += 1
    for name, text in refused.items():
        assert "\n" not in text
        assert name in text
    if strict and db.messages:
        assert encoded > 0, f"no message of {corpus_dbc} encodes with its defaults"


@pytest.mark.parametrize(
    ("relpath", "lenient_loads"), sorted(STRICT_FAILURES.items()), ids=sorted(STRICT_FAILURES)
)
def test_known_strict_failures(corpus: Path, relpath: str, lenient_loads: bool) -> None:
    path = corpus / "dbc" / relpath
    assert path.is_file(), f"corpus file {relpath} is gone; update STRICT_FAILURES"
    with pytest.raises(DatabaseError) as info:
        SignalDatabase.load(path, strict=True)
    assert_one_line_naming(info.value, path)
    if lenient_loads:
        assert SignalDatabase.load(path, strict=False).messages
    else:
        with pytest.raises(DatabaseError) as lenient:
            SignalDatabase.load(path, strict=False)
        assert_one_line_naming(lenient.value, path)


def test_lenient_load_refuses_to_encode_a_broken_message(corpus: Path) -> None:
    """vw_mqb's PLA_01 has overlapping signals: the harness must not send a garbled frame."""
    db = SignalDatabase.load(corpus / "dbc" / "opendbc" / "vw_mqb.dbc", strict=False)
    with pytest.raises(HarnessError, match="PLA_Bremsverzoegerung and PLA_Bremsmoment"):
        db.encode("PLA_01")
    message, data = db.encode("ACC_06")  # the rest of the file stays usable
    assert db.decode(message, data)


def test_corpus_is_found_when_present(corpus: Path) -> None:
    """Guard against the parametrisation silently collecting nothing."""
    files = {p.relative_to(corpus / "dbc").as_posix() for p in (corpus / "dbc").rglob("*.dbc")}
    assert set(STRICT_FAILURES) <= files
    assert len(files) >= 10
