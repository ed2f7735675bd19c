"""Worker processes for the JSONL reader's Python engine: the machine's other cores.

Python parses on one core at a time (the GIL), so a large file is parsed by child processes
too, each given pieces of lines in turn (`Workers.submit`), and their results come back in
futures. The workers are one plain `python -c` process running `serve`, which imports what
it needs (~0.5 s of CPU: pandas, pyarrow) and then forks the others, and each talks over two
pipes of its own (pickles, their large buffers after them). Not `multiprocessing`: its children run
the parent's main script again as they start (`__mp_main__`), and a script that calls
`read_jobs` without an `if __name__ == "__main__":` guard, as notebooks' exported scripts
and quick scripts do, would then be run once more in every child, its side effects with it.

Nothing here is needed for a correct read: a child that cannot start, dies or fails just
fails the futures it holds, and the reader parses those pieces itself.
"""

from __future__ import annotations

import concurrent.futures
import os
import pickle
import queue
import subprocess
import sys
import threading
from typing import IO, Any

__all__ = ["Workers", "serve"]

_READY = b"ready"
# Each message: how many parts (8 bytes, little-endian), each part's size (8 bytes each),
# then the parts: the pickle, and the buffers it holds out of band (protocol 5).
_HEADER = 8


class Workers:
    """`count` child processes, each calling `target` ("module:function") on the arguments
    of each piece given it, one piece at a time, the next one taken as it is free."""

    def __init__(self, count: int, target: str) -> None:
        self._tasks: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self.count = self._alive = count
        self._broken = False
        self._threads: list[threading.Thread] = []
        try:
            self._child, pipes = _start(target, count)
        except (OSError, ValueError, subprocess.SubprocessError):
            # No interpreter to start, no room for a process, no way to pass the pipes.
            for _ in range(count):
                self._gone()
            return
        for send, receive in pipes:
            thread = threading.Thread(
                target=self._feed, args=(send, receive), daemon=True, name="jsonl-worker"
            )
            thread.start()
            self._threads.append(thread)
        threading.Thread(target=self._child.wait, daemon=True, name="jsonl-reaper").start()

    def ready(self) -> bool:
        """Whether some child has started and takes pieces."""
        return self._ready.is_set()

    def submit(self, *args: Any) -> concurrent.futures.Future[Any]:
        """A future of `target(*args)` in the next free child (failed if none is left)."""
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        with self._lock:
            if self._broken:
                future.set_exception(RuntimeError("no worker process is left"))
            else:
                self._tasks.put((future, args))
        return future

    def close(self) -> None:
        """Let the workers go: each ends when its pipe closes (still starting, they are
        stopped); not waited for (a thread of its own reaps the first)."""
        for _ in self._threads:
            self._tasks.put(None)
        if self._threads and not self._ready.is_set():
            self._child.kill()  # still importing: nothing of it is needed

    def _feed(self, send: IO[bytes], receive: IO[bytes]) -> None:
        """One worker's thread: the handshake, then piece after piece until told to stop."""
        try:
            if _receive(receive) != _READY:
                return
            self._ready.set()
            while (task := self._tasks.get()) is not None:
                future, args = task
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    _send(send, args)
                    result = _receive(receive)
                except BaseException as exc:
                    future.set_exception(exc)
                    raise
                if isinstance(result, _Failed):
                    future.set_exception(RuntimeError(result.why))
                else:
                    future.set_result(result)
        except (OSError, EOFError, pickle.UnpicklingError):
            pass  # the child died (or was stopped): its pieces fail, the others go on
        finally:
            send.close()  # the worker reads to the end and stops
            receive.close()
            self._gone()

    def _gone(self) -> None:
        """A child is gone: when none is left, the pieces waiting fail (and new ones do)."""
        with self._lock:
            self._alive -= 1
            if self._alive > 0:
                return
            self._broken = True
            while True:
                try:
                    task = self._tasks.get_nowait()
                except queue.Empty:
                    return
                if task is not None:
                    task[0].set_exception(RuntimeError("no worker process is left"))


class _Failed:
    """What a child sends back for a piece it could not do (the parent does it again, and
    meets the error itself)."""

    def __init__(self, why: str) -> None:
        self.why = why


_Pipes = list[tuple[IO[bytes], IO[bytes]]]


def _start(target: str, count: int) -> tuple[subprocess.Popen[bytes], _Pipes]:
    """The first worker, running `serve(target, ...)` (which forks the others), and the pipes
    to send to each worker and read from it."""
    requests = [os.pipe() for _ in range(count)]  # (the worker's end, ours)
    replies = [os.pipe()[::-1] for _ in range(count)]
    theirs = [fd for k in range(count) for fd in (requests[k][0], replies[k][0])]
    # The parent's import path, so that the child imports this same jobtools; its warnings
    # are seen by no one (and one made an error would stop it: Python 3.12 warns on a fork
    # from a process with threads, as pyarrow's allocator has one).
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    env["PYTHONWARNINGS"] = "ignore"
    code = "import sys; from jobtools.io._workers import serve; serve(*sys.argv[1:])"
    try:
        child = subprocess.Popen(
            [sys.executable, "-c", code, target, *map(str, theirs)],
            pass_fds=theirs,
            stdin=subprocess.DEVNULL,
            # Quiet: a worker's failure only means the parent parses that piece itself (and
            # meets the error itself, if it is one).
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
    except BaseException:
        for pair in (*requests, *replies):
            os.close(pair[0])
            os.close(pair[1])
        raise
    for fd in theirs:
        os.close(fd)
    pipes: _Pipes = [
        (os.fdopen(requests[k][1], "wb"), os.fdopen(replies[k][1], "rb")) for k in range(count)
    ]
    return child, pipes


def serve(target: str, *fds: str) -> None:
    """The workers: `target` imported, then one process for each pair of pipes (`fds`: the
    one to read requests from, the one to reply on), forked from this one, which has
    imported it all already; each replies to each request until its pipe ends."""
    import importlib

    module, _, name = target.partition(":")
    function = getattr(importlib.import_module(module), name)
    pairs = [(int(fds[k]), int(fds[k + 1])) for k in range(0, len(fds), 2)]
    forked = []
    for pair in pairs[1:]:
        pid = os.fork()
        if pid == 0:  # a forked worker: its own pipes only, and nothing of the first's after
            try:
                for other in pairs:
                    if other != pair:
                        os.close(other[0])
                        os.close(other[1])
                _serve(function, *pair)
            finally:
                os._exit(0)
        forked.append(pid)
    for pair in pairs[1:]:
        os.close(pair[0])
        os.close(pair[1])
    try:
        _serve(function, *pairs[0])
    finally:
        for pid in forked:  # waited for: their CPU time then counts as the parent's children's
            os.waitpid(pid, 0)


def _serve(function: Any, requests: int, replies: int) -> None:
    with os.fdopen(requests, "rb") as receive, os.fdopen(replies, "wb") as send:
        _send(send, _READY)
        while True:
            try:
                args = _receive(receive)
            except EOFError:
                return
            try:
                result = function(*args)
            except Exception as exc:  # the parent does this piece again, and says why
                result = _Failed(f"{type(exc).__name__}: {exc}")
            _send(send, result)


def _send(pipe: IO[bytes], value: Any) -> None:
    """`value` pickled, its large buffers (text, Arrow and NumPy arrays) written out of the
    pickle as they are: one copy less on each side (each piece and each result is MiBs)."""
    buffers: list[pickle.PickleBuffer] = []
    data = pickle.dumps(value, protocol=5, buffer_callback=buffers.append)
    raws = [buffer.raw() for buffer in buffers]
    sizes = [len(data), *(raw.nbytes for raw in raws)]
    pipe.write(b"".join(size.to_bytes(_HEADER, "little") for size in [len(sizes), *sizes]))
    pipe.write(data)
    for raw in raws:
        pipe.write(raw)
    pipe.flush()


def _receive(pipe: IO[bytes]) -> Any:
    count = int.from_bytes(_read(pipe, _HEADER), "little")
    header = _read(pipe, _HEADER * count)
    sizes = [
        int.from_bytes(header[k : k + _HEADER], "little") for k in range(0, len(header), _HEADER)
    ]
    data = _read(pipe, sizes[0])
    return pickle.loads(data, buffers=[_read(pipe, size) for size in sizes[1:]])


def _read(pipe: IO[bytes], size: int) -> bytearray:
    """Exactly `size` bytes (EOFError if the other process ends first)."""
    out = bytearray(size)
    view, got = memoryview(out), 0
    while got < size:
        n = pipe.readinto(view[got:])  # type: ignore[attr-defined]
        if not n:
            raise EOFError("the other process closed the pipe")
        got += n
    return out
