"""The simulator behind httpx (in-process) and behind a real HTTP server on loopback."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
import uuid
import warnings
from collections.abc import Callable
from types import TracebackType
from typing import Any

import httpx
import orjson
from aiohttp import web

from jobtools._aio import LoopThread
from jobtools.errors import ExposedSimulatorWarning
from jobtools.simulator._core import Simulator
from jobtools.simulator._replies import Reply, json_headers


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


def _internal_error(exc: Exception) -> Reply:
    # The type only: an exception's text could quote a header, and headers hold secrets.
    message = f"simulator error ({type(exc).__name__})"
    body = orjson.dumps({"error": {"code": "SIM.0500", "message": message}})
    return Reply(500, json_headers(uuid.uuid4().hex), body)


# aiohttp logs malformed requests with the parser's message, which can quote a header line
# (and headers hold secrets): its logger says nothing; `log=` gets the request lines.
_QUIET = logging.getLogger(f"{__name__}.aiohttp")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False


class SimulatorServer:
    """A running simulator on a real socket: `.url`, `.stop()`, and a context manager.

    `aiohttp.web` serves it from its own thread and event loop, so it can be started
    anywhere, including in a Jupyter kernel whose own loop is running. The added latency
    is an `asyncio.sleep`, so a slow answer holds up no other request.
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
        _warn_if_exposed(host, simulator.require_auth)
        self._loop: LoopThread | None = LoopThread("jobtools-simulator")
        try:
            self._runner = self._loop.run(self._start(host, port))
        except BaseException:  # e.g. the port is taken
            self._loop.close()
            self._loop = None
            raise
        address = self._runner.addresses[0]
        self.host: str = str(address[0])
        self.port: int = int(address[1])

    async def _start(self, host: str, port: int) -> web.ServerRunner:
        server = web.Server(self._handle, access_log=None, logger=_QUIET)
        # On stop(), answers in flight get 0.5 s to finish, then as long again to be cancelled.
        runner = web.ServerRunner(server, shutdown_timeout=0.5)
        await runner.setup()
        try:
            # Many clients connect at once (a benchmark opens 32): a deep backlog.
            await web.TCPSite(runner, host, port, backlog=512).start()
        except BaseException:
            await runner.cleanup()
            raise
        return runner

    async def _handle(self, request: web.BaseRequest) -> web.Response:
        simulator = self.simulator
        body = await request.read() if request.body_exists else b""
        path, _, query = request.raw_path.partition("?")
        with simulator.in_flight():
            try:
                reply, delay = simulator.respond(request.method, path, query, request.headers, body)
            except Exception as exc:  # a simulator bug must not leave the client hanging
                reply, delay = _internal_error(exc), 0.0
            if delay:
                await asyncio.sleep(delay)
        if self.log is not None:
            # Only the request line and status: never headers, so never a secret.
            major, minor = request.version
            line = f"{request.method} {request.raw_path} HTTP/{major}.{minor}"
            self.log(f'{request.remote or "-"} - "{line}" {reply.status}')
        return web.Response(status=reply.status, headers=reply.headers, body=reply.body)

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
        return self._loop is not None

    def stop(self) -> None:
        """Stop serving and close every connection and the socket. Safe to call twice.

        Answers still in flight get up to 0.5 s to finish; the rest are cut off.
        """
        loop, self._loop = self._loop, None
        if loop is None:
            return
        try:
            loop.run(self._runner.cleanup())
        finally:
            loop.close()

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


def _warn_if_exposed(host: str, require_auth: bool) -> None:
    """Warn when the simulator listens beyond this machine; louder when anyone may ask."""
    try:
        loopback = ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if loopback:
        return
    if require_auth:
        message = (
            f"the simulator listens on {host}: other machines can reach it, and its demo "
            "credentials are public; bind 127.0.0.1 unless that is what you want"
        )
    else:
        message = (
            f"the simulator listens on {host} WITHOUT AUTHENTICATION (--no-auth): "
            "anyone who can reach this machine can read and add its jobs; bind 127.0.0.1"
        )
    warnings.warn(message, ExposedSimulatorWarning, stacklevel=4)


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
