"""jobtools._aio: async work from sync code, with or without a loop already running."""

from __future__ import annotations

import asyncio
import threading

import pytest

from jobtools._aio import LoopThread, run_sync


async def _where() -> tuple[str, asyncio.AbstractEventLoop]:
    return threading.current_thread().name, asyncio.get_running_loop()


def test_run_sync_without_a_loop_runs_in_this_thread():
    """In a plain script, run_sync is asyncio.run: no helper thread."""
    name, _ = run_sync(_where)
    assert name == threading.current_thread().name


def test_run_sync_inside_a_running_loop_uses_a_worker_thread():
    """Where a loop already runs (a notebook cell), the coroutine runs on a worker's own loop."""

    async def cell():
        return asyncio.get_running_loop(), run_sync(_where, name="jobtools-test")

    outer, (name, inner) = asyncio.run(cell())
    assert name == "jobtools-test" and inner is not outer and inner.is_closed()


@pytest.mark.parametrize("in_a_loop", [False, True])
def test_run_sync_passes_errors_through(in_a_loop):
    """An exception inside the coroutine reaches the caller unchanged, worker thread or not."""

    async def boom():
        raise KeyError("x")

    async def cell():
        return run_sync(boom)

    with pytest.raises(KeyError):
        asyncio.run(cell()) if in_a_loop else run_sync(boom)


def test_loop_thread_keeps_one_loop_across_calls():
    """LoopThread.run uses the same loop every time, so an async generator can be stepped."""

    async def numbers():
        for n in range(3):
            yield n

    async def step(agen):
        return await anext(agen)

    agen = numbers()
    with LoopThread("jobtools-test") as runner:
        loops = {runner.run(_where())[1] for _ in range(2)}
        assert [runner.run(step(agen)) for _ in range(3)] == [0, 1, 2]
        assert runner.submit(_where()).result()[0] == "jobtools-test"
    assert len(loops) == 1 and next(iter(loops)).is_closed()
    assert not runner.running


def test_loop_thread_close_cancels_what_is_left():
    """Closing the loop cancels its tasks still running, as asyncio.run does, and returns."""
    started = threading.Event()

    async def forever():
        started.set()
        await asyncio.Event().wait()

    runner = LoopThread()
    future = runner.submit(forever())
    started.wait()
    runner.close()
    runner.close()  # twice is harmless
    assert future.cancelled()
