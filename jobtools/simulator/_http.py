"""The simulator behind httpx (in-process) and behind a real HTTP server on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import httpx

from jobtools.simulator._core import Reply, Simulator


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


class _Handler(BaseHTTPRequestHandler):
    """One connection; HTTP/1.1 keep-alive, so a client reuses it for many requests."""

    protocol_version = "HTTP/1.1"
    server: _Server
    # An idle keep-alive connection is closed after this long (httpx drops its own after 5 s).
    timeout = 120

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without this, Nagle's algorithm can hold
        # the second one back for a delayed ACK (~40 ms) and every answer would be late.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, add=False)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path, _, query = self.path.partition("?")
        simulator = self.server.simulator
        with simulator.in_flight():
            reply, delay = simulator.respond(
                self.command, path, query, dict(self.headers.items()), body
            )
            if delay:
                time.sleep(delay)  # this thread only: other connections go on meanwhile
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
        # Only the request line and status are ever logged: never headers, so never secrets.
        if self.server.log is not None:
            self.server.log(f"{self.address_string()} - {format % args}")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Many clients connect at once (a benchmark opens 32); the default backlog of 5 would
    # make the rest retry their SYN after a second.
    request_queue_size = 256

    def __init__(
        self, address: tuple[str, int], simulator: Simulator, log: Callable[[str], None] | None
    ) -> None:
        self.simulator = simulator
        self.log = log
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, connection: socket.socket, *, add: bool) -> None:
        with self._connections_lock:
            if add:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class SimulatorServer:
    """A running simulator on a real socket: `.url`, `.stop()`, and a context manager.

    Each connection gets its own thread, so the added latency of one request never holds
    up another.
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
        self._server = _Server((host, port), simulator, log)
        address = self._server.server_address
        self.host, self.port = str(address[0]), int(address[1])
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """`http://host:port`, the endpoint to give a client."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def project_id(self) -> str:
        return self.simulator.project_id

    def start(self) -> SimulatorServer:
        """Serve in a background (daemon) thread; returns self."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.1},
                name=f"jobtools-simulator-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close open connections and the socket. Safe to call twice."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.close_connections()
        self._server.server_close()

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self._thread is not None else "stopped"
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
    return SimulatorServer(simulator or Simulator(), host, port, log=log).start()
