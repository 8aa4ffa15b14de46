"""A TCP proxy that breaks the streams through it at random points, in either direction.

``tests/postgres/proxy.py`` cuts every connection at once or swallows every reply; the
soak needs cuts that land *inside* the traffic: a client's message to the server
truncated after some bytes (the server sees half a message, then the end of the stream),
or the server's answer truncated or lost before the cut (the server committed, the
client never hears so). A cut resets both sides (``SO_LINGER`` 0: an RST, as a dropped
network path looks once it is noticed), so neither end waits for the other.

Faults apply to the connections open when they are armed; connections made later pass
untouched until the next fault.
"""

from __future__ import annotations

import contextlib
import enum
import socket
import struct
from collections.abc import AsyncIterator

import trio


class Direction(enum.Enum):
    """Which way the bytes flow."""

    TO_SERVER = "client->server"
    TO_CLIENT = "server->client"


class _Rule:
    """What happens to the bytes of one direction of one link."""

    __slots__ = ("budget", "drop")

    def __init__(self) -> None:
        self.budget: int | None = None
        """Bytes still forwarded before the link is cut; ``None``: no limit."""
        self.drop = False
        """Whether bytes are dropped instead of forwarded (a black hole)."""


class Link:
    """One proxied connection: a client stream and its server stream."""

    def __init__(self, client: trio.SocketStream) -> None:
        self.client = client
        self.server: trio.SocketStream | None = None
        self.scope = trio.CancelScope()
        self.rules = {Direction.TO_SERVER: _Rule(), Direction.TO_CLIENT: _Rule()}

    def cut(self) -> None:
        """Reset both sides and stop forwarding."""
        for stream in (self.client, self.server):
            if stream is not None:
                # Closing with a zero linger sends RST instead of FIN.
                with contextlib.suppress(OSError):
                    stream.socket.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
        self.scope.cancel()


class FaultyProxy:
    """Forwards local connections to ``(host, port)``; faults are armed by the methods."""

    def __init__(self, host: str, port: int, listener: trio.SocketListener) -> None:
        self._upstream = (host, port)
        self._listener = listener
        local = listener.socket.getsockname()
        self.host: str = local[0]
        self.port: int = local[1]
        self._links: set[Link] = set()
        self.connections = 0
        """Connections accepted so far."""
        self.cuts = 0
        """Links cut so far, by any fault."""
        self.dropped = 0
        """Bytes dropped so far (black holes and the tails of truncated messages)."""

    def cut_all(self) -> int:
        """Reset every open link now; return how many there were."""
        links = list(self._links)
        for link in links:
            link.cut()
        self.cuts += len(links)
        return len(links)

    def truncate(self, direction: Direction, budgets: list[int]) -> list[Link]:
        """Cut each open link after it forwards a few more bytes in ``direction``.

        Link ``i`` forwards ``budgets[i % len(budgets)]`` more bytes that way (0: the very
        next message is lost whole), then is reset in the middle of whatever it was
        sending. A link with no traffic that way stays armed until its next message or
        :meth:`disarm`. Returns the links armed.
        """
        links = list(self._links)
        for index, link in enumerate(links):
            link.rules[direction].budget = budgets[index % len(budgets)]
        return links

    def black_hole(self, direction: Direction) -> list[Link]:
        """Drop every byte sent ``direction`` on the open links, until they are cut.

        Returns the links, for :meth:`cut` once the black hole has lasted long enough
        (on its own a black hole holds a client until its keepalives give up).
        """
        links = list(self._links)
        for link in links:
            link.rules[direction].drop = True
        return links

    def cut(self, links: list[Link]) -> None:
        """Reset ``links`` (those still open)."""
        for link in links:
            if link in self._links:
                link.cut()
                self.cuts += 1

    def disarm(self, links: list[Link]) -> None:
        """Let ``links`` (those still open) forward normally again."""
        for link in links:
            for rule in link.rules.values():
                rule.budget = None
                rule.drop = False

    async def _handle(self, client: trio.SocketStream) -> None:
        self.connections += 1
        link = Link(client)
        self._links.add(link)
        try:
            async with client:
                with link.scope:
                    server = await trio.open_tcp_stream(*self._upstream)
                    link.server = server
                    async with server, trio.open_nursery() as nursery:
                        nursery.start_soon(self._pump, link, Direction.TO_SERVER, client, server)
                        nursery.start_soon(self._pump, link, Direction.TO_CLIENT, server, client)
        except OSError:
            pass  # the server is down: the client sees its connection closed
        finally:
            self._links.discard(link)

    async def _pump(
        self,
        link: Link,
        direction: Direction,
        source: trio.SocketStream,
        sink: trio.SocketStream,
    ) -> None:
        rule = link.rules[direction]
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            while data := await source.receive_some(65536):
                if rule.drop:
                    self.dropped += len(data)
                    continue
                budget = rule.budget
                if budget is not None:
                    if len(data) >= budget:
                        self.dropped += len(data) - budget
                        if budget:
                            await sink.send_all(data[:budget])
                        self.cuts += 1
                        link.cut()
                        return
                    rule.budget = budget - len(data)
                await sink.send_all(data)
        # One side closed or broke: close both, as a dropped connection does.
        link.scope.cancel()


@contextlib.asynccontextmanager
async def running_proxy(host: str, port: int) -> AsyncIterator[FaultyProxy]:
    """A proxy to ``host:port`` on a free local port, for the duration of the block."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    proxy = FaultyProxy(host, port, listeners[0])
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, proxy._handle, listeners)
        try:
            yield proxy
        finally:
            proxy.cut_all()
            nursery.cancel_scope.cancel()
