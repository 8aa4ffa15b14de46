"""The soak's proxy breaks streams the way it claims to (against a local TCP server)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

import trio

from tests.soak.faulty_proxy import Direction, FaultyProxy, running_proxy

WAIT_S = 10.0
"""The longest a test waits for bytes to pass (only a failing test does)."""


class Server:
    """A TCP server that keeps what it receives and echoes it back (unless told not to)."""

    def __init__(self, echo: bool) -> None:
        self.echo = echo
        self.received = b""
        self.closed = trio.Event()

    async def handle(self, stream: trio.SocketStream) -> None:
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            async with stream:
                while data := await stream.receive_some():
                    self.received += data
                    if self.echo:
                        await stream.send_all(data)
        self.closed.set()


@contextlib.asynccontextmanager
async def through_proxy(echo: bool = True) -> AsyncIterator[tuple[Server, FaultyProxy]]:
    server = Server(echo)
    async with trio.open_nursery() as nursery:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        port = listeners[0].socket.getsockname()[1]
        nursery.start_soon(trio.serve_listeners, server.handle, listeners)
        async with running_proxy("127.0.0.1", port) as proxy:
            yield server, proxy
        nursery.cancel_scope.cancel()


async def connect(proxy: FaultyProxy) -> trio.SocketStream:
    return await trio.open_tcp_stream(proxy.host, proxy.port)


async def read_until_closed(stream: trio.SocketStream) -> bytes:
    """What arrives on ``stream`` until it closes or breaks."""
    received = b""
    with contextlib.suppress(trio.BrokenResourceError):
        while data := await stream.receive_some():
            received += data
    return received


async def until(condition: Callable[[], bool]) -> None:
    """Poll ``condition`` (the kernel moves the bytes: nothing announces them)."""
    with trio.fail_after(WAIT_S):
        while not condition():  # noqa: ASYNC110
            await trio.sleep(0.001)


async def test_the_proxy_forwards_both_ways() -> None:
    async with through_proxy() as (server, proxy):
        async with await connect(proxy) as client:
            await client.send_all(b"hello")
            received = b""
            with trio.fail_after(WAIT_S):
                while len(received) < 5:
                    received += await client.receive_some()
        assert received == b"hello"
        assert server.received == b"hello"


async def test_a_cut_toward_the_server_delivers_the_budget_then_resets_both_sides() -> None:
    async with through_proxy(echo=False) as (server, proxy):
        async with await connect(proxy) as client:
            await client.send_all(b"x")
            await until(lambda: server.received == b"x")
            proxy.truncate(Direction.TO_SERVER, [3])
            await client.send_all(b"abcdef")
            with trio.fail_after(WAIT_S):
                await server.closed.wait()
                assert await read_until_closed(client) == b""
        assert server.received == b"xabc"
        assert proxy.cuts == 1
        assert proxy.dropped == 3


async def test_a_cut_toward_the_client_delivers_at_most_the_budget_of_the_reply() -> None:
    async with through_proxy() as (server, proxy):
        async with await connect(proxy) as client:
            await until(lambda: proxy.connections == 1)
            await client.send_all(b"x")
            with trio.fail_after(WAIT_S):
                assert await client.receive_some() == b"x"
            proxy.truncate(Direction.TO_CLIENT, [2])
            await client.send_all(b"hello")
            with trio.fail_after(WAIT_S):
                received = await read_until_closed(client)
                await server.closed.wait()
        # The request went through whole; its answer was cut after two bytes (which the
        # reset may even overtake).
        assert server.received == b"xhello"
        assert received in (b"", b"h", b"he")
        assert proxy.cuts == 1


async def test_a_black_hole_toward_the_client_loses_the_replies_until_the_cut() -> None:
    async with through_proxy() as (server, proxy):
        async with await connect(proxy) as client:
            await client.send_all(b"x")
            with trio.fail_after(WAIT_S):
                assert await client.receive_some() == b"x"
            links = proxy.black_hole(Direction.TO_CLIENT)
            await client.send_all(b"commit")
            await until(lambda: proxy.dropped == 6)  # the server answered; the answer is gone
            proxy.cut(links)
            with trio.fail_after(WAIT_S):
                assert await read_until_closed(client) == b""
                await server.closed.wait()
        assert server.received == b"xcommit"


async def test_disarm_lets_an_armed_stream_carry_on() -> None:
    async with through_proxy() as (_, proxy):
        async with await connect(proxy) as client:
            await until(lambda: proxy.connections == 1)
            links = proxy.truncate(Direction.TO_SERVER, [0])
            proxy.disarm(links)
            await client.send_all(b"still")
            received = b""
            with trio.fail_after(WAIT_S):
                while len(received) < 5:
                    received += await client.receive_some()
        assert received == b"still"
        assert proxy.cuts == 0
