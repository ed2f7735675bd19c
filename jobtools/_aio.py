"""Async work from sync code: the one place jobtools starts event loops and their threads.

`run_sync(factory)` runs one coroutine to completion, whether or not a loop already runs in
the calling thread (in Jupyter one always does). `LoopThread` keeps a loop alive in a daemon
thread across calls, for work that outlives one call: an async generator stepped from a
plain `for` loop, a server answering on a socket. Ctrl-C while waiting cancels the work and
waits until it has unwound, then raises.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["LoopThread", "run_sync"]


def run_sync(factory: Callable[[], Coroutine[Any, Any, T]], *, name: str = "jobtools-run") -> T:
    """Run the coroutine `factory()` to completion from sync code, loop or no loop.

    In a plain script: `asyncio.run`, no thread. Where a loop already runs in this thread
    (Jupyter), blocking it with `run_until_complete` is impossible, so a worker thread runs
    a loop of its own for this one call, torn down as fully as `asyncio.run` does.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    with LoopThread(name) as runner:
        return runner.run(factory())


class LoopThread:
    """An event loop running in its own daemon thread; `run` blocks for one coroutine.

    The loop lives until `close()` (or the end of a `with` block), so that an async
    generator and its connection pool stay on one loop between calls. Closing it ends it as
    `asyncio.run` would: tasks left are cancelled, async generators and the default
    executor shut down.
    """

    def __init__(self, name: str = "jobtools-loop") -> None:
        ready = threading.Event()
        self._stop: asyncio.Event | None = None

        async def main() -> None:
            self._stop = asyncio.Event()
            self.loop = asyncio.get_running_loop()
            ready.set()
            await self._stop.wait()

        def serve() -> None:
            try:
                asyncio.run(main())
            finally:
                ready.set()  # even if the loop could not start: the constructor must not hang

        self.thread = threading.Thread(target=serve, name=name, daemon=True)
        self.thread.start()
        ready.wait()
        if self._stop is None:
            raise RuntimeError(f"the event loop of thread {name!r} did not start")

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Start `coro` on the loop; the future says how it ended (cancelling it cancels it)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the loop and return its result; Ctrl-C here cancels it first."""
        done: concurrent.futures.Future[T] = concurrent.futures.Future()
        started: list[asyncio.Task[T]] = []

        def start() -> None:
            task = self.loop.create_task(coro)
            started.append(task)
            task.add_done_callback(lambda finished: _hand_over(finished, done))

        def cancel() -> None:
            # Runs after `start` (the loop keeps call_soon order), so the task is there.
            if started:
                started[0].cancel()
            else:
                coro.close()
                done.cancel()

        try:
            self.loop.call_soon_threadsafe(start)
            while True:
                # Wake now and then: a Ctrl-C the OS hands to another thread is only acted on
                # when this (main) thread runs Python code again.
                with contextlib.suppress(concurrent.futures.TimeoutError):
                    return done.result(timeout=0.2)
        except BaseException:
            # Ctrl-C may land anywhere in here, even before the task exists: cancel the work
            # and wait until it has unwound (a generator's `finally` closes its poll log).
            if not done.done():
                self.loop.call_soon_threadsafe(cancel)
                with contextlib.suppress(BaseException):
                    done.exception()  # blocks until the task has finished, however it ended
            raise

    @property
    def running(self) -> bool:
        """True until `close()`."""
        return self.thread.is_alive()

    def close(self) -> None:
        """Stop the loop and its thread (call from any thread but the loop's own). Idempotent."""
        if not self.thread.is_alive():
            return
        assert self._stop is not None
        self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join()

    def __enter__(self) -> LoopThread:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _hand_over(task: asyncio.Task[T], done: concurrent.futures.Future[T]) -> None:
    """Copy a finished task's outcome to the future the calling thread waits on."""
    if task.cancelled():
        done.cancel()
    elif (error := task.exception()) is not None:
        done.set_exception(error)
    else:
        done.set_result(task.result())
