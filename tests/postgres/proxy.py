"""A TCP proxy in front of the test server, to break connections at chosen moments.

The store connects through it (``proxy.dsn``); the test can then cut every connection at
once, refuse new ones, let the server's answers vanish on their way back, so that a
commit goes through on the server while the store never hears of it, or let what the
store sends vanish on its way there, so that a commit never reaches the server.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import trio


class Proxy:
    """Forwards local connections to the server; see the module docstring."""

    def __init__(self, dsn: str, host: str, port: int, listener: trio.SocketListener) -> None:
        self._server = (host, port)
        self._listener = listener
        from psycopg import conninfo

        local = listener.socket.getsockname()
        self.dsn = conninfo.make_conninfo(dsn, host=local[0], port=str(local[1]))
        """The DSN that reaches the server through the proxy."""
        self.swallow_replies = False
        """When true, what the server sends is dropped instead of forwarded."""
        self.swallowed_replies = 0
        """Bytes the server sent that were dropped, so far."""
        self.swallow_requests = False
        """When true, what the client sends is dropped instead of forwarded."""
        self.dropped_requests = 0
        """Bytes of the client's dropped so far."""
        self.refuse = False
        """When true, new connections are closed at once."""
        self.connections = 0
        """Connections accepted so far."""
        self._scopes: set[trio.CancelScope] = set()

    def cut(self) -> None:
        """Close every open connection, as a network failure would."""
        for scope in self._scopes:
            scope.cancel()

    async def _handle(self, client: trio.SocketStream) -> None:
        self.connections += 1
        async with client:
            if self.refuse:
                return
            with trio.CancelScope() as scope:
                self._scopes.add(scope)
                try:
                    server = await trio.open_tcp_stream(*self._server)
                    async with server, trio.open_nursery() as nursery:
                        nursery.start_soon(self._pump, client, server, False, scope)
                        nursery.start_soon(self._pump, server, client, True, scope)
                finally:
                    self._scopes.discard(scope)

    async def _pump(
        self,
        source: trio.SocketStream,
        sink: trio.SocketStream,
        replies: bool,
        scope: trio.CancelScope,
    ) -> None:
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            while data := await source.receive_some(65536):
                if replies and self.swallow_replies:
                    self.swallowed_replies += len(data)
                    continue
                if not replies and self.swallow_requests:
                    self.dropped_requests += len(data)
                    continue
                await sink.send_all(data)
        # One side closed: close both, as a dropped connection does.
        scope.cancel()


@contextlib.asynccontextmanager
async def running_proxy(dsn: str) -> AsyncIterator[Proxy]:
    """A proxy to the server of ``dsn`` for the duration of the block."""
    from psycopg import conninfo

    params = conninfo.conninfo_to_dict(dsn)
    host = str(params.get("host") or params.get("hostaddr") or "127.0.0.1")
    port = int(str(params.get("port") or 5432))
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    proxy = Proxy(dsn, host, port, listeners[0])
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, proxy._handle, listeners)
        try:
            yield proxy
        finally:
            proxy.cut()
            nursery.cancel_scope.cancel()
