"""The simulator behind httpx (in-process) and behind a real HTTP server on loopback."""

from __future__ import annotations

import asyncio
import email.utils
import http
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import httpx
import orjson

from jobtools.simulator._core import Simulator
from jobtools.simulator._replies import Reply


def _split(request: httpx.Request) -> tuple[str, str]:
    path, _, query = request.url.raw_path.decode("ascii").partition("?")
    return path, query


class SimulatorTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """An httpx transport answering from a `Simulator`, for both `Client` and `AsyncClient`.

    The added latency is slept with `sleep` / `async_sleep` (pass no-ops to skip it).
    """

    def __init__(
        self,
        simulator: Simulator,
        *,
        sleep: Callable[[float], object] = time.sleep,
        async_sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.simulator = simulator
        self._sleep = sleep
        self._async_sleep = async_sleep

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path, query = _split(request)
        with self.simulator.in_flight():
            reply, delay = self.simulator.respond(
                request.method, path, query, request.headers, request.read()
            )
            if delay:
                self._sleep(delay)
        return _response(reply, request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path, query = _split(request)
        body = await request.aread()
        with self.simulator.in_flight():
            reply, delay = self.simulator.respond(
                request.method, path, query, request.headers, body
            )
            if delay:
                await self._async_sleep(delay)
        return _response(reply, request)


def _response(reply: Reply, request: httpx.Request) -> httpx.Response:
    return httpx.Response(reply.status, headers=reply.headers, content=reply.body, request=request)


_PHRASES = {status.value: status.phrase for status in http.HTTPStatus}
_MAX_HEAD = 64 * 1024


class _Connection(asyncio.Protocol):
    """One client connection: HTTP/1.1 keep-alive, requests answered one after another.

    The added latency is a timer on the event loop, so a slow answer holds up nothing else:
    one thread serves every connection, with no thread switch per request.
    """

    def __init__(self, server: SimulatorServer) -> None:
        self.server = server
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.busy = False
        self.peer = "-"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = str(peer[0]) if peer else "-"
        self.server._connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.server._connections.discard(self)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.busy:
            self._next()

    def _next(self) -> None:
        """Answer the next complete request in the buffer, if there is one."""
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > _MAX_HEAD:
                self._refuse(431)
            return
        lines = self.buffer[:end].decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            self._refuse(400)
            return
        method, target, version = parts
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon:
                self._refuse(400)
                return
            headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self._refuse(501)  # GET has no body; chunked uploads are not this API
            return
        length = headers.get("content-length", "0")
        if not length.isdigit():
            self._refuse(400)
            return
        total = end + 4 + int(length)
        if len(self.buffer) < total:
            return  # the body is still on its way
        body = bytes(self.buffer[end + 4 : total])
        del self.buffer[:total]
        connection = headers.get("connection", "").lower()
        keep_alive = connection != "close" and (version == "HTTP/1.1" or connection == "keep-alive")
        self.busy = True
        simulator = self.server.simulator
        simulator.count_in_flight(+1)
        path, _, query = target.partition("?")
        try:
            reply, delay = simulator.respond(method, path, query, headers, body)
        except Exception as exc:  # a simulator bug must not leave the client hanging
            reply, delay = _internal_error(exc), 0.0
        request = (method, lines[0], keep_alive)
        if delay:
            asyncio.get_running_loop().call_later(delay, self._send, reply, request)
        else:
            self._send(reply, request)

    def _send(self, reply: Reply, request: tuple[str, str, bool]) -> None:
        method, request_line, keep_alive = request
        self.server.simulator.count_in_flight(-1)
        if self.server.log is not None:
            # Only the request line and status: never headers, so never a secret.
            self.server.log(f'{self.peer} - "{request_line}" {reply.status}')
        if self.transport is None:
            return  # the client went away meanwhile
        head = [f"HTTP/1.1 {reply.status} {_PHRASES.get(reply.status, '')}"]
        head += [f"{name}: {value}" for name, value in reply.headers.items()]
        head.append(f"Content-Length: {len(reply.body)}")
        head.append(f"Date: {email.utils.formatdate(usegmt=True)}")
        if not keep_alive:
            head.append("Connection: close")
        payload = b"" if method == "HEAD" else reply.body
        self.transport.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + payload)
        if not keep_alive:
            self.transport.close()
            return
        self.busy = False
        if self.buffer:
            self._next()

    def _refuse(self, status: int) -> None:
        if self.transport is not None:
            line = f"HTTP/1.1 {status} {_PHRASES.get(status, '')}"
            self.transport.write(
                f"{line}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()
            )
            self.transport.close()
        self.buffer.clear()


def _internal_error(exc: Exception) -> Reply:
    # The type only: an exception's text could quote a header, and headers hold secrets.
    message = f"simulator error ({type(exc).__name__})"
    body = orjson.dumps({"error": {"code": "SIM.0500", "message": message}})
    return Reply(500, {"Content-Type": "application/json;charset=UTF-8"}, body)


class SimulatorServer:
    """A running simulator on a real socket: `.url`, `.stop()`, and a context manager.

    It serves from its own thread and event loop, so it can be started anywhere, including
    in a Jupyter kernel whose own loop is running.
    """

    def __init__(
        self,
        simulator: Simulator,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.simulator = simulator
        self.log = log
        self._connections: set[_Connection] = set()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = threading.Thread(
            target=self._run, args=(host, port), name="jobtools-simulator", daemon=True
        )
        self._thread.start()
        self._ready.wait()
        if self._failure is not None:
            self._thread.join()
            self._loop.close()
            raise self._failure
        assert self._server is not None
        address = self._server.sockets[0].getsockname()
        self.host: str = str(address[0])
        self.port: int = int(address[1])

    def _run(self, host: str, port: int) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._server = self._loop.run_until_complete(
                # Many clients connect at once (a benchmark opens 32): a deep backlog.
                self._loop.create_server(lambda: _Connection(self), host, port, backlog=512)
            )
        except BaseException as exc:  # e.g. the port is taken: raised in the caller
            self._failure = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        self._server.close()
        for connection in list(self._connections):
            if connection.transport is not None:
                connection.transport.abort()
        self._loop.run_until_complete(self._server.wait_closed())
        self._loop.run_until_complete(asyncio.sleep(0))  # let the transports finish closing
        self._loop.close()

    @property
    def url(self) -> str:
        """`http://host:port`, the endpoint to give a client."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def project_id(self) -> str:
        return self.simulator.project_id

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> SimulatorServer:
        """The server serves from creation on; kept so that `serve(...).start()` reads well."""
        return self

    def stop(self) -> None:
        """Stop serving and close every connection and the socket. Safe to call twice."""
        if self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._thread = None

    def __enter__(self) -> SimulatorServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"SimulatorServer({self.url!r}, {state}, {self.simulator!r})"


def serve(
    simulator: Simulator | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    log: Callable[[str], None] | None = None,
) -> SimulatorServer:
    """Start `simulator` (default: an empty one with the demo credentials) on a real socket.

    `port=0` picks a free port; read it from `.url`. Use it as a context manager or call
    `.stop()`.
    """
    return SimulatorServer(simulator or Simulator(), host, port, log=log)
