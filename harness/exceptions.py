"""The harness's exceptions: one root, children that also inherit the built-in they resemble.

::

    HarnessError
     ├── ConfigError (ValueError)            a bench file or override is wrong
     ├── DatabaseError (ValueError)          a DBC/ARXML/KCD/SYM file cannot be loaded
     ├── EncodeError (ValueError)            a message or its signals cannot be encoded
     │    └── UnknownNameError (LookupError) no such message or signal (with suggestions)
     ├── TraceError (ValueError)             a recorded trace is malformed or unreadable
     ├── ResourceError (LookupError)         the bench has no resource of that name
     ├── BusError (OSError)                  a CAN interface cannot be opened or written
     ├── HistoryOverflowError (BufferError)  frames were dropped before a wait examined them
     └── ExpectationError (AssertionError)   an expectation on the traffic failed (with evidence)

Library errors (python-can, cantools) are wrapped with ``raise ... from`` so the
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


class BusError(HarnessError, OSError):
    """A CAN interface could not be opened, or a frame could not be sent."""


class HistoryOverflowError(HarnessError, BufferError):
    """Frames a wait needed were dropped from a channel's bounded history."""


class ExpectationError(HarnessError, AssertionError):
    """An expectation on the traffic failed.

    ``str(error)`` reads like a bug report: what was expected, what arrived
    instead (decoded, with times) and the closest miss. ``evidence`` keeps the
    frames for reports.
    """

    def __init__(self, message: str, evidence: tuple[object, ...] = ()) -> None:
        super().__init__(message)
        self.evidence = evidence
