"""``harness simulate``: run a bench's simulated ECUs on their own, for other processes."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import click

from harness import clock
from harness.bench import Bench
from harness.config import load_bench, over_multicast, overrides_from_env, resolve_bench_path
from harness.exceptions import BusError, ConfigError
from harness.sim.multicast import LossMeter, probe_reaches, wait_until_heard
from harness.sim.network_bus import NetworkBus

HANDSHAKE_TIMEOUT = 10.0


@click.command()
@click.option(
    "--bench",
    "bench_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Bench file (default: $HARNESS_BENCH, else fixtures/benches/virtual.toml).",
)
@click.option(
    "--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override one bench key."
)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    metavar="ECU:FAULT",
    help="Switch a seeded fault on, e.g. bcm:door_unlock_ignores_speed (repeatable).",
)
@click.option(
    "--serve",
    metavar="HOST:PORT",
    help="Offer the virtual channels over TCP (python-can-remote), lossless, instead of "
    "udp_multicast: the first channel at PORT, the next at PORT+1... (PORT 0: any free).",
)
@click.option("--duration", type=float, help="Stop after this many seconds (default: Ctrl-C).")
@click.option(
    "--report-every",
    type=float,
    default=5.0,
    show_default=True,
    help="Seconds between status lines.",
)
def simulate(
    bench_path: Path | None,
    overrides: tuple[str, ...],
    faults: tuple[str, ...],
    serve: str | None,
    duration: float | None,
    report_every: float,
) -> None:
    """Run the simulated ECUs of a bench until stopped, visible to other processes.

    Virtual channels are carried over python-can's udp_multicast on this
    machine, so `harness monitor --multicast` or a test run with
    `--bench-set` pointing at the same channels sees the traffic. Delivery is
    verified at start (every simulated ECU must be heard back) and loss is
    counted from the rolling counters while it runs. Each simulated serial device
    (modem, supply, console) gets a port of its own for other processes, printed as
    `serial NAME ADDRESS` (a pty path, or `socket://127.0.0.1:PORT` for a device with
    `transport = "socket"`): open it with a terminal program or PyVISA.

    With --serve HOST:PORT the channels stay in this process and are offered
    over TCP instead (python-can-remote's server; nothing is lost): each is
    printed as `serve NAME ws://HOST:PORT/`, and a client names that URL as its
    channel with `interface = "remote"` (a bench channel, or any python-can
    program). Each simulated DoIP entity is printed as
    `doip NAME HOST:PORT LOGICAL_ADDRESS`; connect a DoIP tester there
    (`[diagnostics.doip] host`/`port`, no `simulation`). Every endpoint is
    printed before `ready`.

    \b
    Example:
      harness simulate --bench fixtures/benches/virtual.toml
      harness monitor  --bench fixtures/benches/virtual.toml --multicast   # second terminal
      python -m serial.tools.miniterm /dev/pts/N 115200   # the modem line it printed
      harness simulate --bench fixtures/benches/virtual.toml --serve 127.0.0.1:54701
    """
    path = resolve_bench_path(bench_path)
    config = load_bench(path, [*overrides_from_env(), *overrides])
    if not config.simulation:
        raise ConfigError(
            str(path), "simulation", "the bench simulates no ECUs ([simulation.ecus.NAME])"
        )
    endpoint = _endpoint(serve) if serve else None
    if endpoint is None:
        config = over_multicast(config)
    else:
        for name, cfg in config.can.items():
            if cfg.interface != "virtual":
                raise ConfigError(
                    str(path), f"can.{name}.interface", "--serve offers virtual channels only"
                )
    with Bench.open(config) as bench, contextlib.ExitStack() as stack:
        for spec in faults:
            ecu_name, _, fault = spec.partition(":")
            bench.sim(ecu_name).fault_on(fault)
        joined = [c for c in config.can if any(c in s.channels for s in config.simulation.values())]
        meters = {name: _verify(bench, name) for name in joined}
        for name, ecu in bench.sims.items():
            faults_on = ", ".join(sorted(ecu.active_faults)) or "no faults"
            count = len(ecu.residual.messages) if ecu.residual else 0
            channels = ", ".join(config.simulation[name].channels)
            click.echo(
                f"simulating {name} ({ecu.definition.node}) on {channels}: {count} messages, "
                f"{faults_on}"
            )
        if endpoint is None:
            for name, cfg in config.can.items():
                click.echo(
                    f"channel {name}: {cfg.interface} {cfg.channel} port {cfg.options.get('port')}"
                )
        else:
            virtual = {name: str(cfg.channel) for name, cfg in config.can.items()}
            served = stack.enter_context(NetworkBus.serve(virtual, *endpoint))
            for channel in served.channels:
                click.echo(f"serve {channel.name} {channel.url}")
        for name, simulation in bench.devices.simulations.items():
            link = simulation.serve(config.serial[name].transport)  # a port of its own
            click.echo(f"serial {name} {link.url}")
        for name, entity in bench.doip.items():
            host, port = entity.address
            click.echo(f"doip {name} {host}:{port} 0x{entity.config.logical_address:04X}")
        click.echo("ready: delivery verified; Ctrl-C stops")
        _run(meters, duration, report_every)


def _endpoint(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) for --serve."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise click.BadParameter(
            f"{text!r}: expected HOST:PORT, e.g. 127.0.0.1:54701", param_hint="--serve"
        )
    return host, int(port)


def _verify(bench: Bench, channel_name: str) -> LossMeter:
    """Start-up handshake on one channel: every simulated ECU sending there is heard, and a
    probe frame reaches every simulated ECU joining it (a gateway joins several channels
    but sends its own messages on one). Returns a loss meter listening from now on."""
    channel = bench.can[channel_name]
    joining = [
        name for name, sim in bench.config.simulation.items() if channel_name in sim.channels
    ]
    sending = [
        bench.sims[name]
        for name in joining
        if bench.config.simulation[name].channel == channel_name
    ]
    periodic = [
        message
        for ecu in sending
        for message, sent in (ecu.residual.messages.items() if ecu.residual else [])
        if sent.running
    ]
    missing = wait_until_heard(channel, periodic, HANDSHAKE_TIMEOUT)
    if missing:
        raise BusError(
            f"multicast delivery failed on {channel_name!r}: not heard within "
            f"{HANDSHAKE_TIMEOUT:g} s: {', '.join(missing)}"
        )
    receivers = [bench.sim_channels[name][channel_name] for name in joining]
    deaf = probe_reaches(channel, receivers, HANDSHAKE_TIMEOUT)
    if deaf:
        raise BusError(
            f"multicast delivery failed: the probe frame did not reach {', '.join(deaf)} "
            f"within {HANDSHAKE_TIMEOUT:g} s"
        )
    if channel.db is None:
        raise ConfigError(
            str(bench.config.path), f"can.{channel_name}.dbc", "simulation needs a database"
        )
    meter = LossMeter(channel.db)
    channel.subscribe(meter.feed)
    return meter


def _run(meters: dict[str, LossMeter], duration: float | None, report_every: float) -> None:
    """Print status lines until ``duration`` passes or Ctrl-C."""
    stop = threading.Event()
    started = clock.now()
    try:
        while not stop.is_set():
            left = None if duration is None else started + duration - clock.now()
            if left is not None and left <= 0:
                break
            stop.wait(report_every if left is None else min(report_every, left))
            _report(meters, clock.now() - started)
    except KeyboardInterrupt:
        click.echo("stopped")
        _report(meters, clock.now() - started)


def _report(meters: dict[str, LossMeter], elapsed: float) -> None:
    for name, meter in meters.items():
        click.echo(f"t={elapsed:6.1f}s {name}: {meter.summary()}")
