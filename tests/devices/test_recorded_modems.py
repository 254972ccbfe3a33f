"""The modem driver fed modems' answers (``tests/data/modems/``), replayed on a real pty.

``recorded/`` holds six real models' answers as python-gsmmodem's authors captured them,
run through one parametrized script; ``modelled/`` five written from vendor manuals, for
what the recordings lack (see the folder's README). Each test runs the calls a user's
script makes and lists every call with its outcome
(printed, and compared as a whole): vendor URCs kept out of answers, ``\\r\\r\\n``,
a missing final ``OK``, ``COMMAND NOT SUPPORT``, verbose and numeric ``+CME ERROR``.
"""

from __future__ import annotations

import codecs
import functools
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.devices.config import SerialDeviceConfig
from harness.devices.modem import AtResponse, MissingFinalResult, Modem
from harness.sim.link import PtyLink

TRANSCRIPTS = Path(__file__).resolve().parents[1] / "data" / "modems"
RECORDED_FILES = sorted(path.name for path in (TRANSCRIPTS / "recorded").glob("*.at"))


@dataclass
class Step:
    command: str
    answer: bytes


@dataclass
class Replay:
    """The modem end of a pty playing a transcript: each command the driver sends must be
    the next one of the file, and gets that step's answer; anything else is recorded and
    answered ``ERROR``."""

    steps: list[Step]
    unexpected: list[str] = field(default_factory=list)
    _buffer: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.link = PtyLink(self._feed, "replay")

    @classmethod
    def load(cls, name: str) -> Replay:
        steps: list[Step] = []
        for number, line in enumerate((TRANSCRIPTS / name).read_text().splitlines(), 1):
            if line.startswith("> "):
                steps.append(Step(_unescape(line[2:]), b""))
            elif line.startswith("< "):
                assert steps, f"{name}:{number}: an answer before any command"
                steps[-1].answer += _unescape(line[2:]).encode("latin-1")
            else:
                assert not line or line.startswith("#"), f"{name}:{number}: {line!r}"
        return cls(steps)

    def _feed(self, data: bytes) -> None:
        with self._lock:
            self._buffer += data.decode("latin-1")
            while True:
                ends = [i for i in (self._buffer.find("\r"), self._buffer.find("\x1a")) if i >= 0]
                if not ends:
                    return
                cut = min(ends)
                keep = self._buffer[cut] == "\x1a"  # an SMS body ends in Ctrl-Z, kept
                unit = self._buffer[: cut + 1 if keep else cut].lstrip("\n")
                self._buffer = self._buffer[cut + 1 :]
                self._answer(unit)

    def _answer(self, unit: str) -> None:
        if self.steps and self.steps[0].command == unit:
            answer = self.steps.pop(0).answer
            if answer:  # no answer recorded: the modem stays silent
                self.link.write(answer)
        else:
            self.unexpected.append(unit)
            self.link.write(b"\r\nERROR\r\n")

    def close(self) -> None:
        self.link.close()


def _unescape(text: str) -> str:
    return codecs.decode(text, "unicode_escape")


Outcomes = list[tuple[str, str]]
PORT = re.compile(r"^modem \(/dev/pts/\d+\): ")  # which pty it was is no outcome


def run(
    outcomes: Outcomes,
    call: str,
    action: Callable[[], object],
    show: Callable[[object], str] = repr,
) -> object:
    """Run one call of the script; record (and print) what it returned or raised."""
    try:
        result = action()
    except Exception as exc:  # noqa: BLE001 - the outcome is what is shown and checked
        message = PORT.sub("", str(exc).splitlines()[0])
        outcome = f"{type(exc).__name__}: {message}"
        result = exc
    else:
        outcome = show(result)
    print(f"{call:<28} -> {outcome}")
    outcomes.append((call, outcome))
    return result


@pytest.fixture
def replay(request: pytest.FixtureRequest) -> Iterator[Replay]:
    played = Replay.load(request.param)
    yield played
    played.close()
    assert played.unexpected == [], f"the driver sent what {request.param} does not hold"
    assert played.steps == [], f"the driver never sent {[s.command for s in played.steps]}"


def modem_on(
    replay: Replay, make_config: Callable[..., SerialDeviceConfig], **settings: object
) -> Modem:
    """The driver on the replay's pty, with ``[serial.NAME]`` settings as a bench gives them."""
    return Modem.open(make_config("modem", replay.link.url, timeout=2.0, **settings))


@pytest.mark.parametrize("replay", ["modelled/huawei_e3372.at"], indirect=True)
def test_huawei_e3372_vendor_urcs_stay_out_of_answers(
    replay: Replay, make_config: Callable[..., SerialDeviceConfig]
) -> None:
    outcomes: Outcomes = []
    with modem_on(replay, make_config) as modem:
        run(outcomes, "set_echo(False)", lambda: modem.set_echo(False))
        identity = modem.identity()
        run(outcomes, "identity()", lambda: identity)
        run(outcomes, "signal()", modem.signal)
        run(outcomes, "AT^SYSINFO", lambda: modem.command("AT^SYSINFO").value("^SYSINFO:"))
        run(outcomes, "AT+CLAC", lambda: modem.command("AT+CLAC"))
        urcs = [urc.line for urc in modem.urcs_since(0)]
    assert (identity.manufacturer, identity.model, identity.revision) == (
        "huawei",
        "E3372",
        "22.315.01.00.00",
    )
    assert (identity.imei, identity.imsi, dict(identity.errors)) == (
        "867223026318732",
        "262011234567890",
        {},
    )
    assert outcomes[2] == ("signal()", "SignalQuality(rssi=17, ber=99)")
    assert outcomes[3] == ("AT^SYSINFO", "'2,3,0,5,1,,4'")  # asked for: an answer, not a URC
    assert outcomes[4][1].startswith("ModemError: ")
    assert outcomes[4][1].endswith("AT+CLAC failed: COMMAND NOT SUPPORT")
    assert urcs == [
        "^RSSI:17",
        "^BOOT:20952548,0,0,0,72",
        "^RSSI:17",
        "^MODE:5,4",
        "^SRVST:2",
        "^RSSI:18",
    ]


@pytest.mark.parametrize("replay", ["modelled/quectel_ec25.at"], indirect=True)
def test_quectel_ec25_keeps_the_sms_reference_when_the_ok_is_missing(
    replay: Replay, make_config: Callable[..., SerialDeviceConfig]
) -> None:
    outcomes: Outcomes = []
    with modem_on(replay, make_config) as modem:
        run(outcomes, "set_echo(False)", lambda: modem.set_echo(False))
        identity = modem.identity()
        run(outcomes, "identity()", lambda: identity)
        with pytest.warns(MissingFinalResult, match=r"\+CMGS: 42 came but no final OK"):
            run(
                outcomes,
                "send_sms(...)",
                lambda: modem.send_sms("+491701234567", "hello from the bench"),
            )
        run(outcomes, "signal()", modem.signal)  # the port carries on
        urcs = [urc.line for urc in modem.urcs_since(0)]
        logged = modem.port.log.format()
    assert (identity.manufacturer, identity.model, identity.revision) == (
        "Quectel",
        "EC25",
        "EC25EFAR06A06M4G",
    )
    assert identity.imsi == "262019876543210"  # +QIND: PB DONE came first, as a URC
    assert outcomes[2:] == [
        ("send_sms(...)", "42"),
        ("signal()", "SignalQuality(rssi=24, ber=99)"),
    ]
    assert urcs == ["+CPIN: READY", "+QUSIM: 1", "+QIND: SMS DONE", "+QIND: PB DONE"]
    assert "reference kept" in logged  # the serial log says so too


@pytest.mark.parametrize("replay", ["modelled/simcom_sim800.at"], indirect=True)
def test_simcom_sim800_pin_entry_double_cr_and_revision_prefix(
    replay: Replay, make_config: Callable[..., SerialDeviceConfig]
) -> None:
    outcomes: Outcomes = []
    with modem_on(replay, make_config) as modem:
        run(outcomes, 'enter_pin("1234")', lambda: modem.enter_pin("1234"))
        identity = modem.identity()
        run(outcomes, "identity()", lambda: identity)
        urcs = [urc.line for urc in modem.urcs_since(0)]
        assert modem.echo is True
    assert outcomes[0] == ('enter_pin("1234")', "None")
    assert (identity.manufacturer, identity.model, identity.revision, identity.imei) == (
        "SIMCOM_Ltd",
        "SIMCOM_SIM800L",
        "1418B04SIM800L24",
        "869988012345678",
    )
    assert identity.imsi == "234101234567891"
    assert urcs == ["+CPIN: READY", "Call Ready", "SMS Ready"]


@pytest.mark.parametrize("replay", ["modelled/ublox_sara_u201.at"], indirect=True)
def test_ublox_sara_u201_verbose_cme_errors_per_field_and_pin(
    replay: Replay, make_config: Callable[..., SerialDeviceConfig]
) -> None:
    outcomes: Outcomes = []
    with modem_on(replay, make_config) as modem:
        run(outcomes, "enable_error_codes(True)", lambda: modem.enable_error_codes(verbose=True))
        identity = modem.identity()
        run(outcomes, "identity()", lambda: identity)
        run(outcomes, 'enter_pin("0000")', lambda: modem.enter_pin("0000"))
        run(outcomes, 'enter_pin("4711")', lambda: modem.enter_pin("4711"))
        run(outcomes, "wait_registered()", lambda: modem.wait_registered(timeout=5))
    assert identity.imsi is None  # the SIM is locked: one field fails, not identity()
    assert dict(identity.errors) == {
        "imsi": "refused: AT+CIMI answered +CME ERROR: SIM PIN required"
    }
    assert (identity.manufacturer, identity.model, identity.revision, identity.imei) == (
        "u-blox",
        "SARA-U201",
        "23.41",
        "357520070123456",
    )
    wrong, right, registered = (outcome for _, outcome in outcomes[2:])
    assert wrong.startswith("ModemError: ")
    assert wrong.endswith('AT+CPIN="0000" failed: +CME ERROR: incorrect password')
    assert right == "None"
    assert registered == ("Registration(stat=5, lac='4E54', ci='44A5', act=6, technology='CREG')")


@pytest.mark.parametrize("replay", ["modelled/wavecom_q2686.at"], indirect=True)
def test_wavecom_q2686_without_cgmr_or_creg_urcs(
    replay: Replay, make_config: Callable[..., SerialDeviceConfig]
) -> None:
    outcomes: Outcomes = []
    with modem_on(replay, make_config, urc_patterns=(r"\+STIN:",)) as modem:
        run(outcomes, "enable_error_codes()", modem.enable_error_codes)
        identity = modem.identity()
        run(outcomes, "identity()", lambda: identity)
        # no registration URCs on this firmware: AT+CREG? at the modem's pace
        run(
            outcomes,
            "wait_registered()",
            lambda: modem.wait_registered(timeout=5, poll_interval=0),
        )
        urcs = [urc.line for urc in modem.urcs_since(0)]
    assert (identity.manufacturer, identity.model, identity.imei, identity.imsi) == (
        "WAVECOM MODEM",
        "MULTIBAND  900E  1800",
        "012345678901237",
        "208201234567890",
    )
    assert identity.revision is None
    assert dict(identity.errors) == {"revision": "not supported: AT+CGMR answered +CME ERROR: 3"}
    assert outcomes[2] == (
        "wait_registered()",
        "Registration(stat=1, lac=None, ci=None, act=None, technology='CREG')",
    )
    assert urcs == ["+WIND: 4", "+STIN: 0", "+WIND: 7"]


NO_ANSWER = 0.2  # s: the wait for a command the recording holds no answer for
SILENCE = "no final result within 0.2 s; no answer lines; received nothing since sending it"


def _shown(result: object) -> str:
    """A raw command's answer, short: its first lines, their count, the final result."""
    if isinstance(result, AtResponse):
        head = [line if len(line) < 40 else line[:36] + "..." for line in result.lines[:2]]
        head += ["..."] if len(result.lines) > 2 else []
        return f"{len(result.lines)} lines {head}, final {result.final!r}"
    return repr(result)


def _table(name: str, outcomes: Outcomes) -> str:
    width = max(len(call) for call, _ in outcomes)
    return "\n".join([name, *(f"  {call:<{width}}  {outcome}" for call, outcome in outcomes)])


IDENTITY = ("manufacturer", "model", "revision", "imei", "imsi")
NOT_RECORDED = [  # no recording answers AT+CSQ, AT+CREG or AT+CMGF: no answer is made up
    ("signal()", f"DeviceTimeoutError: AT+CSQ: {SILENCE}"),
    ("wait_registered()", f"DeviceTimeoutError: AT+CREG=2: {SILENCE}"),
    ("send_sms(...)", f"DeviceTimeoutError: AT+CMGF=1: {SILENCE}"),
]
#: Per model: identity fields (repr, or the field's error), the model's own commands from
#: the recording (raw ``command()`` calls) with their outcomes, the URCs collected.
RECORDED: dict[str, tuple[list[str], Outcomes, str]] = {
    "recorded/huawei_e1752.at": (
        ["'huawei'", "'E1752'", "'11.126.13.00.00'", "'111111111111111'", "'111111111111111'"],
        [
            ("AT+CLAC", "266 lines ['&C', '&D', '...'], final 'OK'"),
            ("AT+WIND?", "ModemError: AT+WIND? failed: COMMAND NOT SUPPORT"),
            ("AT+ZPAS?", "ModemError: AT+ZPAS? failed: COMMAND NOT SUPPORT"),
            ("ATD+27820000000;", "0 lines [], final 'OK'"),
            ("AT+CGMM", "1 lines ['E1752'], final 'OK'"),
        ],
        "['^ORIG:1,0', '^CONF:1']",
    ),
    "recorded/huawei_k3715.at": (
        ["'huawei'", "'K3715'", "'11.104.05.00.00'", "'111111111111111'", "'111111111111111'"],
        [
            ("AT+CLAC", "1 lines ['+CLAC:&C,&D,&E,&F,&S,&V,&W,E,I,L,M,Q...'], final 'OK'"),
            ("AT+WIND?", "ModemError: AT+WIND? failed: ERROR"),
            ("ATD+27820000000;", "0 lines [], final 'OK'"),
            ("AT+CGMM", "1 lines ['K3715'], final 'OK'"),
        ],
        "['^ORIG:1,0', '^CONF:1']",
    ),
    "recorded/nokia_n79.at": (
        ["'Nokia'", "'Nokia N79'", "'V ICPR72_08w44.1'", "'111111111111111'", "'111111111111111'"],
        [
            ("AT+CNMI=2,1,0,2", "ModemError: AT+CNMI=2,1,0,2 failed: ERROR"),
            ("AT+CPMS=?", "1 lines ['+CPMS: (),(),()'], final 'OK'"),
            ('AT+CPMS="SM","SM"', 'ModemError: AT+CPMS="SM","SM" failed: ERROR'),
            ("AT+GCAP", "1 lines ['+GCAP: +CGSM,+DS,+W'], final 'OK'"),
            ("AT+CSMP?", "1 lines ['+CSMP: 49,167,0,0'], final 'OK'"),
        ],
        "[]",
    ),
    "recorded/qualcomm_m6280.at": (
        [
            "'QUALCOMM INCORPORATED'",
            "'M6280'",
            "'M6280_V1.0.0 M6280_V1.0.0 1 [Sep 4 2008 12:00:00]'",
            "'111111111111111'",
            "'111111111111111'",
        ],
        [
            ("AT+ZPAS?", "1 lines ['+BEARTYPE: \"UMTS\",\"CS_PS\"'], final 'OK'"),
            ("AT+CVHU=0", "1 lines ['+CVHU: (0-1)'], final 'OK'"),
            ("AT+CLAC", "ModemError: AT+CLAC failed: ERROR"),
            ("AT+CSCA?", "ModemError: AT+CSCA? failed: +CME ERROR: 14 (SIM busy)"),
        ],
        "[]",
    ),
    "recorded/wavecom_multiband_900e_1800.at": (
        [
            "'WAVECOM MODEM'",
            "'MULTIBAND  900E  1800'",
            "not supported: AT+CGMR answered ERROR",
            "'111111111111111'",
            "'111111111111111'",
        ],
        [
            ("AT+CLAC", "ModemError: AT+CLAC failed: ERROR"),
            ("AT+CVHU=0", "ModemError: AT+CVHU=0 failed: ERROR"),
            ('AT+CPMS="SM","SM"', "1 lines ['+CPMS: 14,50,14,50'], final 'OK'"),
            ("AT+CFUN=1", "0 lines [], final 'OK'"),
            ("AT+CGMI", "ModemError: AT+CGMI failed: +CME ERROR: 515 (see TS 27.007 / 27.005)"),
            ("AT+CGMI", "ModemError: AT+CGMI failed: +CME ERROR: 515 (see TS 27.007 / 27.005)"),
            ("AT+CGMI", "1 lines ['WAVECOM MODEM'], final 'OK'"),
        ],
        "[]",
    ),
    "recorded/zte_k3565z.at": (
        [
            "'ZTE INCORPORATED'",
            "'K3565-Z'",
            "'BD_P673A2V1.0.0B09'",
            "'111111111111111'",
            "'111111111111111'",
        ],
        [
            ("AT+ZPAS?", "1 lines ['+BEARTYPE: \"UMTS\",\"CS_PS\"'], final 'OK'"),
            ("AT+CLAC", "174 lines ['&C', '&D', '...'], final 'OK'"),
        ],
        "[]",
    ),
}


@pytest.mark.parametrize("replay", sorted(RECORDED), indirect=True)
def test_recorded_modem_calls_and_their_outcomes(
    replay: Replay,
    make_config: Callable[..., SerialDeviceConfig],
    request: pytest.FixtureRequest,
) -> None:
    """Identity, PIN state, signal, registration and an SMS, then the model's own
    commands from the recording; a call the recording cannot answer times out."""
    silent = {step.command[2:]: NO_ANSWER for step in replay.steps if not step.answer}
    outcomes: Outcomes = []
    with modem_on(replay, make_config, command_timeouts=silent) as modem:
        identity = modem.identity()
        for key in IDENTITY:
            value = getattr(identity, key)
            shown = repr(value) if key not in identity.errors else identity.errors[key]
            outcomes.append((f"identity().{key}", shown))
        run(outcomes, 'enter_pin("1234")', lambda: modem.enter_pin("1234"))
        run(outcomes, "signal()", modem.signal)
        run(outcomes, "wait_registered()", lambda: modem.wait_registered(timeout=1))
        run(outcomes, "send_sms(...)", lambda: modem.send_sms("+27820000000", "hello"))
        for command in [step.command for step in replay.steps]:
            run(outcomes, command, functools.partial(modem.command, command), _shown)
        urcs = [urc.line for urc in modem.urcs_since(0)]
    outcomes.append(("URCs", repr(urcs)))
    table = _table(request.node.callspec.id, outcomes)
    print(table)
    identity_shown, own, urcs_shown = RECORDED[request.node.callspec.params["replay"]]
    assert outcomes == [
        *zip([f"identity().{key}" for key in IDENTITY], identity_shown, strict=True),
        ('enter_pin("1234")', "None"),  # READY; Wavecom's lacks its OK
        *NOT_RECORDED,
        *own,
        ("URCs", urcs_shown),
    ]


def test_every_recorded_file_has_its_expected_outcomes() -> None:
    assert [f"recorded/{name}" for name in RECORDED_FILES] == sorted(RECORDED)
