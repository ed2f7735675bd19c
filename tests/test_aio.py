"""jobtools._aio: async work from sync code, with or without a loop already running."""

from __future__ import annotations

import ast
import asyncio
import threading
from pathlib import Path

import pytest

import jobtools
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


LOOP_STARTERS = {"run", "new_event_loop", "run_until_complete", "run_forever", "Runner"}


def _loop_starts(path: Path) -> list[str]:
    """`asyncio.run(...)`, `loop.run_until_complete(...)` and the like, called in `path`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner, name = node.func.value, node.func.attr
            is_asyncio = isinstance(owner, ast.Name) and owner.id == "asyncio"
            if (is_asyncio and name in LOOP_STARTERS) or name in (
                "run_until_complete",
                "run_forever",
            ):
                found.append(f"{path.name}:{node.lineno} {ast.unparse(node.func)}")
    return found


def test_only_aio_starts_event_loops():
    """Every event loop jobtools starts, it starts in jobtools._aio: one helper, not four."""
    package = Path(jobtools.__file__).parent
    starts = [
        start
        for path in sorted(package.rglob("*.py"))
        if path != package / "_aio.py"
        for start in _loop_starts(path)
    ]
    assert starts == []
