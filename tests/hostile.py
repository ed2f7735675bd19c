"""A hostile jobs API on loopback: the simulator's real server, with each answer twisted.

`HostileServer` is a `SimulatorServer` (the same aiohttp plumbing, thread and event loop):
every request is first answered by a real `Simulator` (signatures checked, real records),
then `play(seen)` decides what actually goes back, as one of the actions below: the real
answer, another answer, a body dripped byte by byte, an endless body, or raw bytes written
straight to the socket (headers that are not UTF-8). Tests use it through `hostile_server`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import unquote

import orjson
from aiohttp import web

from jobtools.simulator import Reply, Simulator, SimulatorServer


@dataclasses.dataclass(frozen=True)
class Seen:
    """One request as the hostile server saw it, with the simulator's honest reply."""

    number: int
    path: str
    job_id: str
    headers: Mapping[str, str]
    reply: Reply

    def record(self) -> dict[str, Any]:
        """The honest reply's body as a dict (a job record for a known id)."""
        return orjson.loads(self.reply.body)  # type: ignore[no-any-return]


class Action:
    """How an answer goes back."""

    async def send(self, request: web.BaseRequest) -> web.StreamResponse:
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class Send(Action):
    """A whole answer: any status, headers and body."""

    status: int = 200
    body: bytes | dict[str, Any] | list[Any] = b""
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)

    async def send(self, request: web.BaseRequest) -> web.StreamResponse:
        body = self.body if isinstance(self.body, bytes) else orjson.dumps(self.body)
        headers = {"Content-Type": "application/json", **self.headers}
        return web.Response(status=self.status, headers=headers, body=body)


def honest(seen: Seen) -> Action:
    """The simulator's own answer."""
    return Send(seen.reply.status, seen.reply.body, seen.reply.headers)


@dataclasses.dataclass(frozen=True)
class Drip(Action):
    """A 200 whose body comes one byte every `every` seconds (Content-Length is right)."""

    body: bytes
    every: float = 0.05

    async def send(self, request: web.BaseRequest) -> web.StreamResponse:
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        response.content_length = len(self.body)
        await response.prepare(request)
        with contextlib.suppress(ConnectionError, RuntimeError):
            for i in range(len(self.body)):
                await response.write(self.body[i : i + 1])
                await asyncio.sleep(self.every)
        return response


@dataclasses.dataclass(frozen=True)
class Endless(Action):
    """A 200 streaming `chunk` until `total` bytes (default: forever) or the client leaves.

    `declare` sends Content-Length: `total` (else chunked); `encoding` names the chunks'
    Content-Encoding (e.g. pieces of one gzip stream).
    """

    chunk: bytes = b" " * 65_536
    total: int | None = None
    declare: bool = False
    encoding: str | None = None
    chunks: tuple[bytes, ...] = ()

    async def send(self, request: web.BaseRequest) -> web.StreamResponse:
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        if self.encoding:
            response.headers["Content-Encoding"] = self.encoding
        if self.declare and self.total is not None:
            response.content_length = self.total
        else:
            response.enable_chunked_encoding()
        await response.prepare(request)
        sent = 0
        pieces = iter(self.chunks) if self.chunks else itertools.repeat(self.chunk)
        with contextlib.suppress(ConnectionError, RuntimeError):
            for piece in pieces:
                if self.total is not None and sent >= self.total:
                    break
                await response.write(piece)
                sent += len(piece)
            await response.write_eof()
        return response


@dataclasses.dataclass(frozen=True)
class Raw(Action):
    """Bytes written straight to the socket, which is then closed (no HTTP checks at all)."""

    data: bytes

    async def send(self, request: web.BaseRequest) -> web.StreamResponse:
        transport = request.transport
        assert transport is not None
        transport.write(self.data)
        transport.close()
        return web.Response()


def raw_answer(status: str, body: bytes, *header_lines: bytes) -> Raw:
    """A raw HTTP/1.1 answer with a right Content-Length and the given header lines."""
    head = [f"HTTP/1.1 {status}".encode(), f"Content-Length: {len(body)}".encode()]
    head += [*header_lines, b"Connection: close"]
    return Raw(b"\r\n".join(head) + b"\r\n\r\n" + body)


Play = Callable[[Seen], Action]


class HostileServer(SimulatorServer):
    """A `SimulatorServer` whose answers `play` twists; `.seen` lists every request."""

    def __init__(self, simulator: Simulator, play: Play = honest) -> None:
        self.play = play
        self.seen: list[Seen] = []
        self._count = itertools.count(1)
        self._seen_lock = threading.Lock()
        super().__init__(simulator)

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        body = await request.read() if request.body_exists else b""
        path, _, query = request.raw_path.partition("?")
        reply, _ = self.simulator.respond(request.method, path, query, request.headers, body)
        with self._seen_lock:
            seen = Seen(
                number=next(self._count),
                path=path,
                job_id=unquote(path.rsplit("/", 1)[-1], errors="surrogateescape"),
                headers=dict(request.headers),
                reply=reply,
            )
            self.seen.append(seen)
        return await self.play(seen).send(request)

    @property
    def requests(self) -> int:
        return len(self.seen)


@contextlib.contextmanager
def hostile(simulator: Simulator, play: Play = honest) -> Iterator[HostileServer]:
    """A running HostileServer, stopped at the end of the block."""
    server = HostileServer(simulator, play)
    try:
        yield server
    finally:
        server.stop()
