"""The harness's exceptions: one root, children that also inherit the built-in they resemble.

::

    HarnessError
     ├── ConfigError (ValueError)            a bench file or override is wrong
     ├── DatabaseError (ValueError)          a DBC/ARXML/KCD/SYM file cannot be loaded
     ├── EncodeError (ValueError)            a message or its signals cannot be encoded
     │    └── UnknownNameError (LookupError) no such message or signal (with suggestions)
     ├── TraceError (ValueError)             a recorded trace is malformed or unreadable
     ├── ResourceError (LookupError)         the bench has no resource of that name
     ├── PluginError (LookupError)           no plugin of that name, or it fails to load
     ├── BusError (OSError)                  a CAN interface cannot be opened or written
     ├── HistoryOverflowError (BufferError)  frames were dropped before a wait examined them
     ├── ExpectationError (AssertionError)   an expectation on the traffic failed (with evidence)
     ├── DeviceError (OSError)               a serial device (console, modem, power supply) failed
     │    ├── DeviceTimeoutError (TimeoutError)  it did not answer in time (with what it did send)
     │    └── ModemError                     an AT command ended in ERROR / +CME / +CMS ERROR
     ├── DiagnosticError                     a diagnostic (UDS, OBD-II, ISO-TP) exchange failed
     │    ├── NegativeResponseError          the ECU answered negatively (NRC code and name)
     │    └── DiagnosticTimeoutError (TimeoutError)  no complete answer within P2 / P2*
     ├── ResultsStoreError (OSError)         the results store (SQLite file, PostgreSQL URL) failed
     └── ReportError (OSError)               a report cannot be built or written

Library errors (python-can, cantools, pyserial, PyVISA, can-isotp,
udsoncan) are wrapped with ``raise ... from`` so the
original stays in ``__cause__`` while the message names the file, key or frame.
"""

from __future__ import annotations


class HarnessError(Exception):
    """Root of every error the harness raises on purpose."""


class ConfigError(HarnessError, ValueError):
    """A bench file (or an override of one) is malformed.

    The message names the file, the key path and what was expected.
    """

    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source = source
        self.key = key
        self.problem = problem
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {problem}")


class DatabaseError(HarnessError, ValueError):
    """A signal database cannot be loaded; the message names the file and the cause."""


class EncodeError(HarnessError, ValueError):
    """A message cannot be encoded from the given signal values."""


class UnknownNameError(EncodeError, LookupError):
    """A message or signal name is not in the database."""


class TraceError(HarnessError, ValueError):
    """A recorded trace cannot be read; the message names the file and position."""


class ResourceError(HarnessError, LookupError):
    """The bench has no resource (channel, device) of the requested name."""


class PluginError(HarnessError, LookupError):
    """No plugin (device kind, transport, seed-key algorithm...) of that name is registered,
    or its module fails to import; the message names it and what is known."""


class BusError(HarnessError, OSError):
    """A CAN interface could not be opened, or a frame could not be sent."""


class HistoryOverflowError(HarnessError, BufferError):
    """Frames a wait needed were dropped from a channel's bounded history."""


class NotVerifiedError(HarnessError):
    """A check could not run because nothing declares what to check (no protection,
    no cycle time): neither passed nor failed. The pytest plugin reports it as a skip
    whose reason starts with "not verified: "."""


class ExpectationError(HarnessError, AssertionError):
    """An expectation on the traffic failed.

    ``str(error)`` reads like a bug report: what was expected, what arrived
    instead (decoded, with times) and the closest miss; its first line names the
    deciding frame where there is one. ``evidence`` keeps the frames for reports,
    ``deciding`` the frame that decided the failure (the one that arrived when none
    should, the closest miss), ``origin`` the time its times count from (the mark),
    so reports put every time on the same origin.
    """

    def __init__(
        self,
        message: str,
        evidence: tuple[object, ...] = (),
        *,
        deciding: object | None = None,
        origin: float | None = None,
    ) -> None:
        super().__init__(message)
        self.evidence = evidence
        self.deciding = deciding
        self.origin = origin


class DeviceError(HarnessError, OSError):
    """A serial device could not be opened, written or read (its port disappeared, it
    answered nonsense). The message names the device, its port and the command."""


class DeviceTimeoutError(DeviceError, TimeoutError):
    """A device did not answer in time; the message shows the tail of what it did send."""


class ModemError(DeviceError):
    """An AT command ended in a final error result.

    ``code`` is the numeric ``+CME ERROR`` / ``+CMS ERROR`` code (None for plain
    ``ERROR`` or a verbose text), ``kind`` one of ``"ERROR"``, ``"CME"``, ``"CMS"``,
    ``"reboot"`` (``"PIN"``/``"PUK"`` from ``enter_pin``); ``command`` the command that
    failed, ``result`` the final result line it got (``+CME ERROR: 10``).
    """

    def __init__(
        self,
        message: str,
        *,
        command: str = "",
        kind: str = "ERROR",
        code: int | None = None,
        result: str = "",
    ) -> None:
        super().__init__(message)
        self.command = command
        self.kind = kind
        self.code = code
        self.result = result


class DiagnosticError(HarnessError):
    """A diagnostic exchange (UDS, OBD-II, ISO-TP) failed; the message names the request."""


class NegativeResponseError(DiagnosticError):
    """The ECU answered with a negative response.

    ``nrc`` is the code (0x31), ``nrc_name`` its ISO 14229-1 name (``requestOutOfRange``),
    ``service`` the service's name and ``request`` what was asked (``DID VIN (0xF190)``).
    """

    def __init__(self, service: str, request: str, nrc: int, nrc_name: str) -> None:
        self.service = service
        self.request = request
        self.nrc = nrc
        self.nrc_name = nrc_name
        what = f"{service} {request}".strip()
        super().__init__(f"{what}: negative response 0x{nrc:02X} {nrc_name}")


class DiagnosticTimeoutError(DiagnosticError, TimeoutError):
    """No (complete) response arrived in time: P2/P2* for UDS, the response window for OBD-II."""


class ResultsStoreError(HarnessError, OSError):
    """The results store cannot be opened, read or written; the message names the SQLite
    file or the PostgreSQL URL (password hidden) and, where one is involved, the run."""


class ReportError(HarnessError, OSError):
    """A report (HTML) cannot be rendered or written; the message names the file and run."""
