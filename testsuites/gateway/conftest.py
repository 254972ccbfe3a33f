"""Gateway conformance suite: parametrised by the gateway's routing table (its DUT profile).

At collection time the bench file's ``[gateway] profile`` names the routing table; it is
checked against the bench's CAN channels and their databases, and becomes the parameters:

``route``
    every ``[[routes]]`` entry: message, from and to channel, maximum latency;
``crossing``
    every pair of channels the table routes between, in both directions: what must not
    cross there (the table's ``[[blocked]]`` messages and an ID no database declares);
``snapshot``
    the ``[snapshot]`` signal route, if the table has one.

A bench without ``[gateway]`` (or a table without such entries) gives one skipped test
per parameter, with the reason.
"""

from __future__ import annotations

import pytest

from harness.bench import Channels
from harness.canbus.expect import require_db
from harness.canbus.routing import Route, RoutingTable, SnapshotRoute
from harness.config import bench_routing
from harness.pytest_plugin.hooks import get_bench_config
from harness.pytest_plugin.support import bench_errors_at_collection, import_beside

import_beside(__file__, "gateway_support")
from gateway_support import Crossing, RouteUnderTest, crossings  # noqa: E402


def _routing(config: pytest.Config) -> tuple[RoutingTable | None, str]:
    with bench_errors_at_collection():
        bench = get_bench_config(config)
        routing = bench_routing(bench)
    reason = f"bench {bench.name!r} ({bench.path}) has no [gateway] routing table"
    return routing, reason


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    wanted = {"route", "crossing", "snapshot"} & set(metafunc.fixturenames)
    if not wanted:
        return
    routing, reason = _routing(metafunc.config)
    values: dict[str, list[object]] = {"route": [], "crossing": [], "snapshot": []}
    if routing is not None:
        values["route"] = list(routing.routes)
        values["crossing"] = list(crossings(routing))
        values["snapshot"] = [routing.snapshot] if routing.snapshot is not None else []
        reason = f"the routing table {routing.path.name} has no such entries"
    for name in sorted(wanted):
        params = values[name] or [pytest.param(None, marks=pytest.mark.skip(reason=reason))]
        metafunc.parametrize(name, params, ids=str, indirect=True)


@pytest.fixture
def route(request: pytest.FixtureRequest, can: Channels) -> RouteUnderTest:
    """A route of the table with its open channels and the routed message's definition."""
    entry: Route = request.param
    source = can[entry.source]
    return RouteUnderTest(
        entry, source, can[entry.target], require_db(source).message(entry.message)
    )


@pytest.fixture
def crossing(request: pytest.FixtureRequest) -> Crossing:
    """One direction between two channels of the table (what must not cross it)."""
    value: Crossing = request.param
    return value


@pytest.fixture
def snapshot(request: pytest.FixtureRequest) -> SnapshotRoute:
    """The table's signal route into the gateway's snapshot message."""
    value: SnapshotRoute = request.param
    return value
