"""The simulated server's service registry: every module registered once, by its ID."""

from __future__ import annotations

from udsoncan.BaseService import BaseService

from harness.sim.uds.config import SERVICE_IDS
from harness.sim.uds.server import SPR_SERVICES
from harness.sim.uds.services import SERVICES


def test_services_are_keyed_by_their_id_and_named_as_udsoncan_names_them() -> None:
    for sid, service in SERVICES.items():
        assert service.sid == sid
        udsoncan_service = BaseService.from_request_id(sid)
        assert udsoncan_service is not None
        assert service.name == udsoncan_service.get_name()
        assert SERVICE_IDS[service.name] == sid


def test_sub_function_services_declare_the_suppress_bit() -> None:
    assert {0x10, 0x11, 0x27, 0x28, 0x31, 0x3E, 0x85} == SPR_SERVICES
