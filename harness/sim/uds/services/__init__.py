"""The services of the simulated UDS server, one module each, in :data:`SERVICES`.

A module holds a :class:`~harness.sim.uds.services.base.Service`: its service ID, its
name, the sub-functions and sessions the server checks before it runs, and the handler
(request parsing, the service's NRC checks in ISO 14229-1's order, the response).
Adding a service is a new module here and its line in :data:`SERVICES`; the ECU file's
``service_sessions`` then knows its name too.
"""

from __future__ import annotations

from harness.sim.uds.services.base import Service
from harness.sim.uds.services.clear_diagnostic_information import ClearDiagnosticInformation
from harness.sim.uds.services.communication_control import CommunicationControl
from harness.sim.uds.services.control_dtc_setting import ControlDtcSetting
from harness.sim.uds.services.download import RequestDownload, RequestTransferExit, TransferData
from harness.sim.uds.services.ecu_reset import EcuReset
from harness.sim.uds.services.read_data_by_identifier import ReadDataByIdentifier
from harness.sim.uds.services.read_dtc_information import ReadDtcInformation
from harness.sim.uds.services.routine_control import RoutineControl
from harness.sim.uds.services.security_access import SecurityAccess
from harness.sim.uds.services.session_control import DiagnosticSessionControl
from harness.sim.uds.services.tester_present import TesterPresent
from harness.sim.uds.services.write_data_by_identifier import WriteDataByIdentifier

SERVICES: dict[int, Service] = {
    service.sid: service
    for service in (
        DiagnosticSessionControl(),
        EcuReset(),
        ClearDiagnosticInformation(),
        ReadDtcInformation(),
        ReadDataByIdentifier(),
        SecurityAccess(),
        CommunicationControl(),
        WriteDataByIdentifier(),
        RoutineControl(),
        RequestDownload(),
        TransferData(),
        RequestTransferExit(),
        TesterPresent(),
        ControlDtcSetting(),
    )
}
"""The services the simulated server implements, by request service ID."""

__all__ = ["SERVICES", "Service"]
