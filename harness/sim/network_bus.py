"""A bench's virtual channels offered to other processes, losslessly, over TCP.

python-can-remote's server bridges every client that connects to a python-can bus of
its own in this process; on the ``virtual`` interface those buses share the channel
with the simulated ECUs, so each client sees their traffic and they see the client's.
TCP delivers every frame in order (python-can's ``udp_multicast`` drops frames in
bursts and just after joining). A client is any python-can program:
``can.Bus(interface="remote", channel="ws://HOST:PORT/")``, or a bench channel
``interface = "remote"``, ``channel = "ws://HOST:PORT/"``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from can_remote import RemoteServer

from harness.closing import Closing
from harness.exceptions import BusError


@dataclass(frozen=True)
class ServedChannel:
    name: str
    """The bench channel's name."""
    url: str
    """What a client names as its ``channel``: ``ws://HOST:PORT/``."""


class NetworkBus(Closing):
    """One python-can-remote server per virtual channel, each in a thread of its own."""

    def __init__(self) -> None:
        self.channels: list[ServedChannel] = []
        self._servers: list[tuple[RemoteServer, threading.Thread]] = []

    @classmethod
    def serve(cls, channels: Mapping[str, str], host: str, port: int) -> NetworkBus:
        """Serve ``channels`` (bench name -> virtual channel) from ``host``: the first at
        ``port``, the next at ``port + 1`` and so on (``port`` 0: any free ports)."""
        served = cls()
        # the server logs every frame's client at INFO; the harness prints its own lines
        logging.getLogger("can_remote").setLevel(logging.WARNING)
        try:
            for index, (name, virtual) in enumerate(channels.items()):
                wanted = port + index if port else 0
                try:
                    server = RemoteServer(host, wanted, interface="virtual", channel=virtual)
                except OSError as exc:
                    raise BusError(
                        f"cannot serve channel {name!r} on {host}:{wanted}: {exc}"
                    ) from exc
                thread = threading.Thread(
                    target=server.serve_forever, name=f"serve-{name}", daemon=True
                )
                thread.start()
                served._servers.append((server, thread))
                shown = f"[{host}]" if ":" in host else host
                served.channels.append(ServedChannel(name, f"ws://{shown}:{server.server_port}/"))
        except BaseException:
            served.close()
            raise
        return served

    def close(self) -> None:
        """Stop accepting clients, hang up on the connected ones, close the sockets."""
        for server, thread in self._servers:
            server.shutdown()
            server.server_close()
            thread.join()
            for client in list(server.clients):
                client.running = False
                with contextlib.suppress(OSError):
                    client.close()
        self._servers.clear()
