"""The UDS tester: a udsoncan Client over any diagnostic transport, speaking in the DUT
profile's names.

>>> with open_uds(bench) as uds:                     # doctest: +SKIP
...     uds.read_did("VIN")
...     uds.session("extended"); uds.unlock(1)
...     [str(d) for d in uds.dtcs()]
'WDEMX000000000001'
['B1001-13 DriverDoorMotorOpen status 0x2F (testFailed, ...)']

The client sees only a :class:`~harness.diag.transport.Link` (udsoncan connections and
the transport's errors), so it runs unchanged over ISO-TP on a CAN channel, where every
exchange is in the channel's history and trace, or over any other registered transport.
A negative response raises :class:`~harness.exceptions.NegativeResponseError` with the
NRC's name; no response within P2/P2* raises :class:`~harness.exceptions.DiagnosticTimeoutError`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import isotp
import udsoncan
from udsoncan import Dtc, MemoryLocation
from udsoncan.client import Client
from udsoncan.configs import default_client_config
from udsoncan.exceptions import (
    InvalidResponseException,
    NegativeResponseException,
    TimeoutException,
    UnexpectedResponseException,
)

from harness import clock
from harness.diag.config import DiagConfig
from harness.diag.names import SESSIONS, nrc_name, session_name
from harness.diag.profile import DidDefinition, DutProfile, format_dtc
from harness.diag.seedkey import redact_logger
from harness.exceptions import (
    DiagnosticError,
    DiagnosticTimeoutError,
    NegativeResponseError,
    ResourceError,
)

if TYPE_CHECKING:
    from udsoncan.connections import BaseConnection
    from udsoncan.typing import ClientConfig

    from harness.canbus.channel import Channel
    from harness.diag.transport import Link

__all__ = [
    "DownloadResult",
    "DtcRecord",
    "UdsClient",
    "uds_over",
]

RESET_TYPES = {"hard": 1, "key_off_on": 2, "soft": 3}
COMMUNICATION_CONTROL = {
    "enable_rx_and_tx": 0,
    "enable_rx_disable_tx": 1,
    "disable_rx_enable_tx": 2,
    "disable_rx_and_tx": 3,
}
ROUTINE_ACTIONS = {"start": 1, "stop": 2, "results": 3}
STATUS_BITS = (
    "testFailed",
    "testFailedThisOperationCycle",
    "pendingDTC",
    "confirmedDTC",
    "testNotCompletedSinceLastClear",
    "testFailedSinceLastClear",
    "testNotCompletedThisOperationCycle",
    "warningIndicatorRequested",
)
"""DTC status bits 0..7 (ISO 14229-1 D.2)."""


def status_names(status: int) -> list[str]:
    """The names of the bits set in a DTC status byte."""
    return [name for bit, name in enumerate(STATUS_BITS) if status & (1 << bit)]


@dataclass(frozen=True)
class DtcRecord:
    """One DTC as the ECU reported it, named from the DUT profile."""

    code: int
    status: int
    name: str = ""

    @property
    def text(self) -> str:
        return format_dtc(self.code)

    @property
    def status_names(self) -> list[str]:
        return status_names(self.status)

    def __str__(self) -> str:
        name = f" {self.name}" if self.name else ""
        bits = ", ".join(self.status_names) or "no bits set"
        return f"{self.text}{name} status 0x{self.status:02X} ({bits})"


@dataclass(frozen=True)
class DownloadResult:
    """What a RequestDownload/TransferData/RequestTransferExit sequence did."""

    address: int
    size: int
    blocks: int
    max_block_length: int
    seconds: float


class UdsClient:
    """A UDS tester bound to one ECU: DIDs, DTCs and routines by their profile names.

    ``client`` is the udsoncan Client underneath, for services not wrapped here.
    """

    def __init__(self, client: Client, config: DiagConfig, link: Link) -> None:
        self.client = client
        self.config = config
        self.link = link
        self.session_entered = "default"
        self._functional: UdsClient | None = None

    @property
    def channel(self) -> Channel:
        """The CAN channel the exchange runs on (its frames, its trace)."""
        if self.link.channel is None:
            raise ResourceError(f"diagnostics over {self.link.name} run on no CAN channel")
        return self.link.channel

    @property
    def profile(self) -> DutProfile:
        if self.config.profile is None:
            raise ResourceError(
                f"{self.config.source}: diagnostics.profile is not set, so DIDs, DTCs and "
                "routines have no names; give a DUT profile or use numbers"
            )
        return self.config.profile

    @property
    def functional(self) -> UdsClient:
        """The same tester addressing every ECU (functional ID, single frames only)."""
        if self._functional is None:
            raise DiagnosticError("this client was opened without a functional connection")
        return self._functional

    # -- exchanges ----------------------------------------------------------------

    @contextmanager
    def _exchange(self, service: str, what: str) -> Iterator[None]:
        """Turn udsoncan's and can-isotp's exceptions into harness errors naming the request."""
        try:
            yield
        except NegativeResponseException as exc:
            code = exc.response.code if exc.response.code is not None else 0
            raise NegativeResponseError(service, what, code, nrc_name(code)) from exc
        except TimeoutException as exc:
            raise DiagnosticTimeoutError(
                f"{service} {what}: no response over {self.link.name}: {exc}"
                f"{self._transport_errors()}"
            ) from exc
        except (InvalidResponseException, UnexpectedResponseException) as exc:
            raise DiagnosticError(f"{service} {what}: bad response: {exc}") from exc
        except isotp.BlockingSendFailure as exc:
            raise DiagnosticError(
                f"{service} {what}: the request could not be sent over {self.link.name} "
                f"(no flow control from the ECU?){self._transport_errors()}"
            ) from exc
        except (udsoncan.exceptions.ConfigError, ValueError, TypeError) as exc:
            raise DiagnosticError(f"{service} {what}: {exc}") from exc

    def _transport_errors(self) -> str:
        errors = self.link.errors()[-3:]
        if not errors:
            return ""
        return f"; {self.link.protocol}: " + "; ".join(f"{type(e).__name__}: {e}" for e in errors)

    def request(self, payload: bytes, *, timeout: float | None = None) -> bytes | None:
        """Send raw request bytes and return the raw response (negative ones too), skipping
        responsePending; None if nothing came back within ``timeout`` (default P2).

        For malformed requests and negative tests; everything else has a method.
        """
        conn = self.client.conn
        wait = self.config.p2 if timeout is None else timeout
        with self._exchange("request", payload.hex(" ")):
            conn.empty_rxqueue()
            conn.send(payload)
            deadline = clock.Deadline(wait)
            while True:
                data = conn.wait_frame(timeout=deadline.remaining(), exception=False)
                if data is None:
                    return None
                if len(data) >= 3 and data[0] == 0x7F and data[2] == 0x78:
                    deadline = clock.Deadline(self.config.p2_star)
                    continue
                return bytes(data)

    # -- identification and data --------------------------------------------------

    def read_did(self, ref: str | int) -> Any:
        """A DID by name (``"VIN"``) or number, decoded with the profile's codec.

        A number the profile does not define returns the raw bytes.
        """
        if isinstance(ref, int) and (self.config.profile is None or not self._known(ref)):
            request = bytes([0x22]) + ref.to_bytes(2, "big")
            return self._raw("ReadDataByIdentifier", f"DID 0x{ref:04X}", request)[3:]
        did = self.profile.did(ref)
        with self._exchange("ReadDataByIdentifier", did.label):
            response = self.client.read_data_by_identifier(did.id)
        assert response is not None
        return response.service_data.values[did.id]

    def _raw(self, service: str, what: str, payload: bytes) -> bytes:
        """A raw exchange whose negative answer raises like the others."""
        response = self.request(payload)
        if response is None:
            raise DiagnosticTimeoutError(
                f"{service} {what}: no response within P2 ({self.config.p2 * 1000:.0f} ms)"
            )
        if response[0] == 0x7F and len(response) >= 3:
            raise NegativeResponseError(service, what, response[2], nrc_name(response[2]))
        return response

    def _known(self, did: int) -> bool:
        return self.profile.did_by_id(did) is not None

    def read_dids(self, *refs: str | int) -> dict[str, Any]:
        """Several DIDs in one request, by name."""
        dids = [self.profile.did(ref) for ref in refs]
        labels = ", ".join(d.label for d in dids)
        with self._exchange("ReadDataByIdentifier", labels):
            response = self.client.read_data_by_identifier([d.id for d in dids])
        assert response is not None
        values = response.service_data.values
        return {d.name: values[d.id] for d in dids}

    def write_did(self, ref: str | int, value: Any) -> None:
        did = self.profile.did(ref)
        with self._exchange("WriteDataByIdentifier", did.label):
            self.client.write_data_by_identifier(did.id, value)

    def identity(self) -> dict[str, Any]:
        """Every DID the profile marks ``identity = true``, read one by one."""
        return {did.name: self.read_did(did.name) for did in self.profile.identity}

    def did(self, ref: str | int) -> DidDefinition:
        return self.profile.did(ref)

    # -- sessions, security, reset ----------------------------------------------

    def session(self, name: str | int) -> tuple[float | None, float | None]:
        """DiagnosticSessionControl: ``"default"``, ``"extended"``, ``"programming"``, or a
        session number. Returns the ECU's (P2, P2*) in seconds, None where it sent none."""
        if isinstance(name, str) and name not in SESSIONS:
            raise DiagnosticError(f"unknown session {name!r}; sessions: {', '.join(SESSIONS)}")
        number = SESSIONS[name] if isinstance(name, str) else name
        with self._exchange("DiagnosticSessionControl", session_name(number)):
            response = self.client.change_session(number)
        self.session_entered = session_name(number)
        assert response is not None
        data = response.service_data
        return data.p2_server_max, data.p2_star_server_max

    def unlock(self, level: int = 1) -> None:
        """SecurityAccess: request a seed for ``level`` and send the plugin's key.

        The key is computed by the bench's seed-key plugin and is never logged.
        """
        if self.config.security is None:
            raise DiagnosticError(
                f"{self.config.source}: no [diagnostics.security] seed_key, so security "
                f"level {level} cannot be unlocked"
            )
        with self._exchange("SecurityAccess", f"level {level}"):
            self.client.unlock_security_access(level)

    def request_seed(self, level: int = 1) -> bytes:
        with self._exchange("SecurityAccess", f"requestSeed level {level}"):
            response = self.client.request_seed(level)
        assert response is not None
        return bytes(response.service_data.seed)

    def send_key(self, level: int, key: bytes) -> None:
        """sendKey with a key of your own (for negative tests); it is not logged."""
        with self._exchange("SecurityAccess", f"sendKey level {level}"):
            self.client.send_key(level + 1, key)

    def tester_present(self, *, suppress: bool = False) -> None:
        """TesterPresent; with ``suppress`` the ECU must not answer (nothing is awaited)."""
        with self._exchange("TesterPresent", "(suppress)" if suppress else ""):
            if suppress:
                with self.client.suppress_positive_response:
                    self.client.tester_present()
            else:
                self.client.tester_present()

    def reset(self, kind: str = "hard") -> None:
        """ECUReset: ``"hard"``, ``"key_off_on"`` or ``"soft"``."""
        if kind not in RESET_TYPES:
            raise DiagnosticError(f"unknown reset {kind!r}; kinds: {', '.join(RESET_TYPES)}")
        with self._exchange("ECUReset", kind):
            self.client.ecu_reset(RESET_TYPES[kind])
        self.session_entered = "default"

    def communication_control(self, control: str | int, communication_type: int = 0x01) -> None:
        """CommunicationControl, e.g. ``("disable_rx_and_tx")``; type 0x01 is normal messages."""
        value = COMMUNICATION_CONTROL[control] if isinstance(control, str) else control
        with self._exchange("CommunicationControl", str(control)):
            self.client.communication_control(value, communication_type)

    def dtc_setting(self, on: bool) -> None:
        """ControlDTCSetting: stop (False) or resume (True) updating DTC status."""
        setting = 1 if on else 2
        with self._exchange("ControlDTCSetting", "on" if on else "off"):
            self.client.control_dtc_setting(setting)

    # -- DTCs ---------------------------------------------------------------------

    def dtcs(self, status_mask: int = 0xFF) -> list[DtcRecord]:
        """ReadDTCInformation 0x02: DTCs whose status matches ``status_mask``, named."""
        with self._exchange("ReadDTCInformation", f"reportDTCByStatusMask 0x{status_mask:02X}"):
            response = self.client.get_dtc_by_status_mask(status_mask)
        assert response is not None
        return self._records(response.service_data.dtcs)

    def dtc_count(self, status_mask: int = 0xFF) -> int:
        """ReadDTCInformation 0x01: how many DTCs match ``status_mask``."""
        with self._exchange(
            "ReadDTCInformation", f"reportNumberOfDTCByStatusMask 0x{status_mask:02X}"
        ):
            response = self.client.get_number_of_dtc_by_status_mask(status_mask)
        assert response is not None
        return int(response.service_data.dtc_count)

    def supported_dtcs(self) -> list[DtcRecord]:
        """ReadDTCInformation 0x0A: every DTC the ECU supports, with its status."""
        with self._exchange("ReadDTCInformation", "reportSupportedDTC"):
            response = self.client.get_supported_dtc()
        assert response is not None
        return self._records(response.service_data.dtcs)

    def _records(self, dtcs: list[Dtc]) -> list[DtcRecord]:
        profile = self.config.profile
        records = []
        for dtc in dtcs:
            definition = profile.dtc_by_code(dtc.id) if profile is not None else None
            name = definition.name if definition is not None else ""
            records.append(DtcRecord(dtc.id, dtc.status.get_byte_as_int(), name))
        return records

    def clear_dtcs(self, group: str | int = 0xFFFFFF) -> None:
        """ClearDiagnosticInformation: all DTCs, or one by name or code."""
        code = self.profile.dtc(group).code if isinstance(group, str) else group
        with self._exchange("ClearDiagnosticInformation", f"group 0x{code:06X}"):
            self.client.clear_dtc(code)

    # -- routines and flashing ----------------------------------------------------

    def routine(self, ref: str | int, action: str = "start", data: bytes = b"") -> bytes:
        """RoutineControl ``start``/``stop``/``results``; returns the routineStatusRecord.

        Slow routines answer responsePending (0x78) first; the client then waits P2*.
        """
        rid = self.profile.routine(ref).id if isinstance(ref, str) else ref
        if action not in ROUTINE_ACTIONS:
            raise DiagnosticError(
                f"unknown routine action {action!r}; {', '.join(ROUTINE_ACTIONS)}"
            )
        label = ref if isinstance(ref, str) else f"0x{rid:04X}"
        with self._exchange("RoutineControl", f"{action} {label}"):
            response = self.client.routine_control(rid, ROUTINE_ACTIONS[action], data or None)
        assert response is not None
        return bytes(response.service_data.routine_status_record or b"")

    def download(
        self, address: int, data: bytes, *, address_bytes: int = 4, size_bytes: int = 4
    ) -> DownloadResult:
        """RequestDownload, TransferData in blocks the ECU accepts (the block sequence
        counter wraps 0xFF -> 0x00), RequestTransferExit."""
        started = clock.now()
        location = MemoryLocation(
            address, len(data), address_format=address_bytes * 8, memorysize_format=size_bytes * 8
        )
        with self._exchange("RequestDownload", f"0x{address:X} ({len(data)} bytes)"):
            response = self.client.request_download(location)
        assert response is not None
        max_length = int(response.service_data.max_length)
        if max_length <= 2:
            raise DiagnosticError(
                f"RequestDownload: maxNumberOfBlockLength {max_length} is too small"
            )
        chunk = max_length - 2
        blocks = 0
        for offset in range(0, len(data), chunk):
            counter = (blocks + 1) & 0xFF
            with self._exchange("TransferData", f"block {blocks + 1} (counter 0x{counter:02X})"):
                self.client.transfer_data(counter, data[offset : offset + chunk])
            blocks += 1
        with self._exchange("RequestTransferExit", ""):
            exit_response = self.client.request_transfer_exit()
        assert exit_response is not None
        return DownloadResult(address, len(data), blocks, max_length, clock.now() - started)


def client_settings(config: DiagConfig, logger_name: str) -> ClientConfig:
    """udsoncan client settings from the bench's ``[diagnostics]`` section."""
    settings = cast(dict[str, Any], dict(default_client_config))
    settings.update(
        {
            "data_identifiers": config.profile.codecs() if config.profile is not None else {},
            "p2_timeout": config.p2,
            "p2_star_timeout": config.p2_star,
            "request_timeout": None,
            "use_server_timing": config.use_server_timing,
            "security_algo": config.security.seed_key.udsoncan_algo if config.security else None,
            "server_address_format": 32,
            "server_memorysize_format": 32,
            "logger_name": logger_name,
        }
    )
    return cast("ClientConfig", settings)


@contextmanager
def uds_over(link: Link, config: DiagConfig) -> Iterator[UdsClient]:
    """A UDS tester over ``link`` (with its functional twin at ``.functional`` where the
    transport has functional addressing)."""
    with ExitStack() as stack:
        uds = UdsClient(_client(link.connection(link.name), config, link.name, stack), config, link)
        functional_name = f"{link.name} functional"
        functional = link.functional_connection(functional_name)
        if functional is not None:
            client = _client(functional, config, functional_name, stack)
            uds._functional = UdsClient(client, config, link)
        yield uds


def _client(connection: BaseConnection, config: DiagConfig, name: str, stack: ExitStack) -> Client:
    client = Client(connection, client_settings(config, name))
    redact_logger(logging.getLogger(f"UdsClient[{name}]"))
    stack.enter_context(client)
    return client
