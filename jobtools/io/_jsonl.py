"""The JSONL reader behind `read_jobs`: any file of job lines, by either engine, one frame.

A file is read with `readinto` into buffers of its own, up to 32 MiB at a time (never
mapped: a file truncated by another process meanwhile just ends early, where a mapping would
kill the process with SIGBUS), so memory follows what the file holds, not its size. Each
piece goes to one of two engines, which gather the same raw values (`frame.RawJobs`), typed
and derived by the same rules (`frame.frame_from_raw`):

- `"kernel"`: the compiled scanner (`_scan`), each piece in two halves by two threads while
  the next piece is read, each part's row values (`frame.RowValues`) by two more while the
  next parts are scanned; the few lines it leaves to Python (see `_scan`) are read as the
  Python engine reads them, by the thread that scanned them, and put in their place.
- `"python"`: orjson, one call a MiB of lines (line by line where one is no object), then
  `frame.raw_from_records`: no compiler needed. A file of 64 MiB or more is parsed by
  worker processes too (`_workers`: Python parses on one core at a time), one a core, up
  to 4 (`JOBTOOLS_JSONL_WORKERS` sets how many, 0 for none), their parts put back in order:
  2.4-2.6 s a million records on two cores, 2.5-3x the kernel's time (a smaller file,
  read in-process: 4-5x).
- `"auto"` (the default): the kernel when it is built, else Python, said once by an
  `AcceleratorNotBuiltWarning`; the environment variable `JOBTOOLS_JSONL_ENGINE` can name
  the engine "auto" means.

Lines are judged one by one, the same way by both engines: a line that is not JSON, not an
object, nested too deep for JSON text (orjson writes 254 levels) or longer than 64 MiB is
reported with its number (`problems`) and the others are read. Integers past 64 bits keep
their exact text. Blank lines, a UTF-8 BOM and CRLF line ends are no problems.
"""

from __future__ import annotations

import codecs
import collections
import concurrent.futures
import contextlib
import dataclasses
import gc
import gzip
import io
import json
import os
import pickle
import queue
import re
import sys
import threading
import warnings
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal, TypeAlias

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa

from jobtools.errors import AcceleratorNotBuiltWarning
from jobtools.frame import (
    ENTITY_FIELDS,
    RawJobs,
    RowValues,
    exact_int,
    frame_from_raw,
    raw_from_records,
    slot,
    unwritable,
)
from jobtools.io import _scan, _workers
from jobtools.schema import RECORD_FIELDS
from jobtools.times import LegacyTz

__all__ = [
    "ENGINES",
    "AcceleratorNotBuiltWarning",
    "Engine",
    "read_file_lines",
    "read_lines",
]

Engine: TypeAlias = Literal["auto", "kernel", "python"]
ENGINE_VARIABLE = "JOBTOOLS_JSONL_ENGINE"
WORKERS_VARIABLE = "JOBTOOLS_JSONL_WORKERS"
ENGINES: tuple[Engine, ...] = ("auto", "kernel", "python")
Bytes: TypeAlias = bytes | bytearray | memoryview

# Read this much at a time (the first piece _FIRST, see `_pieces`); a piece of _HALVES_AT
# or more is scanned in two halves at once.
CHUNK = 32 << 20
_FIRST = 4 << 20
_HALVES_AT = 1 << 20
# The Python engine reads a piece this much at a time.
PYTHON_PIECE = 1 << 20
# From this size, a file (its bytes on disk) is read by the Python engine in worker processes
# too (`_workers`: the other cores), a piece of WORKER_PIECE each time; a smaller one is read
# sooner than the workers start.
WORKERS_FROM = 64 << 20
WORKER_PIECE = 4 << 20
WORKER_TARGET = f"{__name__}:_parse_piece"  # what a worker calls on each piece
# A longer line is reported and skipped, never held: memory stays bounded.
MAX_LINE = 64 << 20
# A run of digits this long may be an integer past 64 bits, which orjson reads as a float.
_LONG_DIGITS = re.compile(rb"[0-9]{19}")

HOW_TO_BUILD = (
    "build it with a C compiler and Python's headers installed: `make .venv/bin/.installed` "
    "in a clone, or `pip install --no-build-isolation -e .`"
)


_noticed = False


def engine_for(engine: str) -> Literal["kernel", "python"]:
    """The engine that reads: `"auto"` is the kernel when built (else said once)."""
    global _noticed
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    if engine == "auto":
        # Which engine "auto" means can be set for a whole process (the test suite runs the
        # reader's tests under each).
        engine = os.environ.get(ENGINE_VARIABLE) or "auto"
        if engine not in ENGINES:
            raise ValueError(
                f"{ENGINE_VARIABLE} must be one of {', '.join(ENGINES)}, not {engine!r}"
            )
    if engine == "python":
        return "python"
    if _scan.BUILT:
        return "kernel"
    if engine == "kernel":
        raise RuntimeError(
            f"the compiled JSONL scanner (engine='kernel') is not built: {HOW_TO_BUILD}"
        )
    if not _noticed:
        _noticed = True
        warnings.warn(
            "jobtools: the compiled JSONL scanner is not built, so JSONL is read by the Python "
            f"engine (3-5x slower); {HOW_TO_BUILD}",
            AcceleratorNotBuiltWarning,
            stacklevel=5,  # the caller of read_jobs
        )
    return "python"


def read_lines(
    data: Bytes | pa.Buffer,
    path: Path,
    legacy_tz: LegacyTz | None = None,
    engine: str = "auto",
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """The job frame of JSONL bytes (`path` names the file in problems), and its bad lines."""
    view = memoryview(data).cast("B")
    reader = _Reader(path, engine_for(engine), size=len(view))
    with _malloc_for_arrow(), reader:
        _pieces(io.BytesIO(view).readinto, reader)
        return reader.frame(legacy_tz)


def read_file_lines(
    path: Path, legacy_tz: LegacyTz | None = None, engine: str = "auto"
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """The job frame of a JSONL file, read piece by piece, and its bad lines.

    A gzip file (known by its first two bytes, whatever its name) is decompressed as it is
    read. Where its data is damaged or cut short, the lines before are kept and the damage
    is reported as a problem at the line it cut (the rest of the file cannot be read).
    """
    reader = _Reader(path, engine_for(engine), size=path.stat().st_size)
    with _malloc_for_arrow(), reader, path.open("rb", buffering=0) as file:
        if file.read(2) != GZIP_MAGIC:
            file.seek(0)
            _pieces(file.readinto, reader)
            return reader.frame(legacy_tz)
        file.seek(0)
        damage: list[str] = []
        with gzip.GzipFile(fileobj=file, mode="rb") as unzipped:
            _pieces(_until_damaged(unzipped.readinto1, damage), reader)
        frame, problems = reader.frame(legacy_tz)
        if damage:  # after the file's last line read, so the problems stay in line order
            problems.append({"file": str(path), "line": reader.line + 1, "error": damage[0]})
        return frame, problems


GZIP_MAGIC = b"\x1f\x8b"
# What one call to a gzip stream's `readinto1` asks for: what it decompressed in a call that
# meets damage is lost, so little at a time (it gives what one read of the file holds anyway).
_GZIP_STEP = 1 << 20


def _until_damaged(
    readinto1: Callable[[Any], int | None], damage: list[str]
) -> Callable[[memoryview], int | None]:
    """`readinto` of a gzip stream that ends where the data is damaged, saying why in `damage`."""

    def read(buffer: memoryview) -> int | None:
        if damage:
            return 0
        try:
            return readinto1(buffer[:_GZIP_STEP])
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            # BadGzipFile: a bad header or checksum; EOFError: cut short; zlib.error: bad data.
            damage.append(f"damaged gzip data ({exc}): the file is read up to here")
            return 0

    return read


_pool_lock = threading.Lock()
_pool_users = 0
_pool_before: pa.MemoryPool | None = None


@contextlib.contextmanager
def _malloc_for_arrow() -> Iterator[None]:
    """Arrow's buffers from the C library's allocator while a file is read (then the pool
    there was before, once no read in this process needs it).

    pyarrow's default pool (mimalloc) gives a large buffer fresh huge pages and returns them
    soon after it is freed, so each of the reader's column-sized copies pays the zeroing of
    new memory again: a million records read 0.3-0.4 s faster (a fifth) with malloc, half
    the system time (benchmarks/bench_frame.py). Reads in several threads share it."""
    global _pool_users, _pool_before
    with _pool_lock:
        if _pool_users == 0:
            _pool_before = pa.default_memory_pool()
            pa.set_memory_pool(pa.system_memory_pool())
        _pool_users += 1
    try:
        yield
    finally:
        with _pool_lock:
            _pool_users -= 1
            if _pool_users == 0 and _pool_before is not None:
                pa.set_memory_pool(_pool_before)


def _pieces(readinto: Callable[[Any], int | None], reader: _Reader) -> None:
    """Hand `reader` the file's whole lines, a buffer at a time, into two buffers in turn:
    the kernel engine may still be scanning the piece it was handed last (`_Reader.piece`)
    while the next is read into the other."""
    # The first pieces small, so that the scan starts soon (a buffer of CHUNK costs its
    # pages first: 20 ms before any line is read), each next one twice as large, up to CHUNK:
    # the larger buffers are made while the smaller pieces are scanned.
    buf, other = bytearray(min(_FIRST, CHUNK)), bytearray(0)
    have = 0
    first = True
    skipping = False  # inside a line longer than MAX_LINE
    while True:
        got = readinto(memoryview(buf)[have:]) or 0
        have += got
        eof = got == 0
        if first and (have >= 3 or eof):
            first = False
            if buf[:3] == codecs.BOM_UTF8:
                buf[: have - 3] = buf[3:have]
                have -= 3
        if skipping:
            end = buf.find(b"\n", 0, have)
            if end < 0:
                have = 0
                if eof:
                    return
                continue
            skipping = False
            reader.line += 1
            buf[: have - end - 1] = buf[end + 1 : have]
            have -= end + 1
            continue
        if eof:
            if have:
                reader.piece(buf, 0, have)
            return
        if have < len(buf):
            continue  # a short read: fill the buffer first
        last = buf.rfind(b"\n", 0, have)
        if last < 0:
            if len(buf) < MAX_LINE:
                buf.extend(bytes(len(buf)))  # one line longer than the buffer: room for it
                continue
            reader.too_long()
            skipping, have = True, 0
            continue
        reader.piece(buf, 0, last + 1)  # once it returns, the other buffer is free again
        carried = have - last - 1
        if len(other) < (size := max(len(buf), min(2 * len(buf), CHUNK))):
            other = bytearray(size)
        other[:carried] = buf[last + 1 : have]
        buf, other, have = other, buf, carried


class _Reader:
    """Reads pieces of whole lines by one engine; gathers their rows and problems."""

    def __init__(self, path: Path, engine: Literal["kernel", "python"], size: int = 0) -> None:
        self.path = path
        self.engine = engine
        self.size = size  # of the input, in bytes: a large one is read in worker processes too
        self.line = 0  # the number (from 0) of the next piece's first line
        self.raws: list[RawJobs] = []
        self.numbers: list[np.ndarray] = []
        self.keep: list[np.ndarray] = []
        self.problems: list[dict[str, Any]] = []
        # The kernel's pieces are scanned in two halves by two threads (each taking the next
        # half as soon as it is done: no waiting for the other half), while this thread
        # reads the next piece and takes in the one before (`finish`).
        self._scan_pool = concurrent.futures.ThreadPoolExecutor(max_workers=2)
        self._scanning: list[concurrent.futures.Future[tuple[_scan.Part, list[Any]]]] | None
        self._scanning = None
        # The scanner's row arrays, one set for each scan at once.
        self._scratch: queue.SimpleQueue[_scan.Scratch] = queue.SimpleQueue()
        for _ in range(2):
            self._scratch.put(_scan.Scratch())
        # Each part's row values (times, what the sub-jobs give: `RowValues`), worked out by
        # two threads of their own while the next parts are scanned (in the time the
        # scanning threads leave), the last part's two halves at once.
        self._values: list[concurrent.futures.Future[RowValues]] = []
        self._values_pool = concurrent.futures.ThreadPoolExecutor(max_workers=2)
        # The Python engine's worker processes, for a large input (started on entering), and
        # the pieces sent to them whose rows are not taken yet: (future, text).
        self._workers: _workers.Workers | None = None
        self._sent: collections.deque[tuple[Any, bytes]] = collections.deque()

    def __enter__(self) -> _Reader:
        """While a file is read: the cyclic GC paused (see `_gc_paused`: what each piece
        keeps, its sub-job lists, would be walked again by every collection; measured on 1M
        records: 0.5-0.9 s of 6 with the Python engine, 0.03 s of 0.93 with the kernel's),
        and for the Python engine and a large input its worker processes started; then the
        threads and the workers let go (a read stopped by an error included)."""
        self._stack = contextlib.ExitStack()
        self._stack.enter_context(_gc_paused())
        if self.engine == "python" and self.size >= WORKERS_FROM and (n := _worker_count()) > 1:
            self._workers = _workers.Workers(n, WORKER_TARGET)
            self._stack.callback(self._workers.close)
        self._stack.callback(self._values_pool.shutdown, cancel_futures=True)
        self._stack.callback(self._scan_pool.shutdown, cancel_futures=True)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def too_long(self) -> None:
        self.finish()  # the line's number follows the lines before
        self._problem(self.line, f"line longer than {MAX_LINE >> 20} MiB: not read")

    def piece(self, buf: bytearray, lo: int, hi: int) -> None:
        """The lines of `buf[lo:hi]` (whole lines, the last maybe without its newline)."""
        if self.engine == "python":
            if self._workers is not None:
                self._to_workers(buf, lo, hi)
            else:
                self.line = self._python_pieces(buf, lo, hi, self.line)
            return
        array = np.frombuffer(buf, dtype=np.uint8)
        cuts = [lo, hi]
        if hi - lo >= _HALVES_AT:
            middle = buf.find(b"\n", (lo + hi) // 2, hi)
            if 0 <= middle < hi - 1:
                cuts.insert(1, middle + 1)
        scans = [
            self._scan_pool.submit(self._scan, buf, array, cuts[i], cuts[i + 1])
            for i in range(len(cuts) - 1)
        ]
        self.finish()  # the piece before (its buffer is the one read next)
        self._scanning = scans

    def _scan(
        self, buf: bytearray, array: np.ndarray, lo: int, hi: int
    ) -> tuple[_scan.Part, list[dict[str, Any]]]:
        """A part scanned, and the lines it leaves to Python read by Python's rules (here,
        beside the other scan: by a reader of their own, their lines numbered from the
        part's start) and put in their rows, which the scanner left empty (in place: a
        reorder of the whole file afterwards would copy every column); their problems."""
        scratch = self._scratch.get()  # one set of row arrays for each scan at once
        try:
            part = _scan.scan(array, lo, hi, scratch)
        finally:
            self._scratch.put(scratch)
        if not len(part.left):
            return part, []
        left = _Reader(self.path, "python")
        view = memoryview(buf)
        lines = [bytes(view[a:b]) for a, b in part.left_where.T.tolist()]
        left._python(lines, part.line[part.left])
        if left.raws:
            read = RawJobs.concat(left.raws) if len(left.raws) > 1 else left.raws[0]
            numbers = np.concatenate(left.numbers)
            rows = part.left[np.searchsorted(part.line[part.left], numbers)]
            part.raw = _scan.put(part, rows, read)
            part.state[rows] = _scan.OK
        return part, left.problems

    def finish(self) -> None:
        """The piece the kernel is scanning, if any, taken in (after those before it); with
        the Python engine, the pieces its workers hold."""
        while self._sent:
            self._take_sent()
        if self._scanning is None:
            return
        scans = self._scanning
        self._scanning = None
        for part, problems in [future.result() for future in scans]:
            self.problems += [{**p, "line": p["line"] + self.line} for p in problems]
            self._add(part.raw, self.line + part.line, part.state == _scan.OK)
            self.line += part.lines - 1

    def _python_pieces(self, buf: bytes | bytearray, lo: int, hi: int, line: int) -> int:
        """The lines of `buf[lo:hi]` (numbered from `line`) read by the Python engine here;
        the number of the line after them."""
        while lo < hi:
            # A MiB of lines at a time: their records (~5x their bytes as Python objects)
            # stay in memory the allocator keeps and in the CPU's caches (1M records:
            # 5.1 s CPU, 7.2 s with 4 MiB, 7.5 s with the whole 32 MiB piece).
            cut = buf.find(b"\n", min(lo + PYTHON_PIECE, hi) - 1, hi)
            stop = hi if cut < 0 else cut + 1
            text = bytes(memoryview(buf)[lo:stop])
            count = _newlines(text) + 1
            self._python([], np.arange(line, line + count), text)
            line += count - 1
            lo = stop
        return line

    def _to_workers(self, buf: bytearray, lo: int, hi: int) -> None:
        """The lines of `buf[lo:hi]` sent to the worker processes, WORKER_PIECE at a time, and
        read here until one of them has started (each worker imports pandas and pyarrow
        first, ~0.5 s). Their parts are taken in order, as they come: each worker numbers
        its lines from 0 (counting them here would cost this process a pass over the file),
        and `self.line` follows the pieces taken."""
        assert self._workers is not None
        while lo < hi:
            # Read here a MiB at a time: the workers, once started, wait for no long piece.
            here = not self._sent and not self._workers.ready()
            cut = buf.find(b"\n", min(lo + (PYTHON_PIECE if here else WORKER_PIECE), hi) - 1, hi)
            stop = hi if cut < 0 else cut + 1
            text = bytes(memoryview(buf)[lo:stop])
            lo = stop
            if here:
                self.line = self._here(text, self.line)
                continue
            sent = self._workers.submit(str(self.path), pickle.PickleBuffer(text), 0)
            self._sent.append((sent, text))
            # A few pieces ahead of the rows taken: memory holds no more than these.
            while len(self._sent) > 3 * self._workers.count:
                self._take_sent()

    def _take_sent(self) -> None:
        """The oldest piece sent to a worker: its rows taken as one part (if the worker
        failed or is gone, read here instead, as a piece read without workers)."""
        future, text = self._sent.popleft()
        first = self.line
        try:
            parsed: _Parsed = future.result()
        except Exception:
            self.line = self._here(text, first)
            return
        self.line = first + parsed.lines
        self.problems += [
            {**problem, "line": problem["line"] + first} for problem in parsed.problems
        ]
        if parsed.raw is not None and parsed.values is not None:
            self._add(parsed.raw, parsed.numbers + first, np.ones(parsed.raw.n, dtype=bool))
            self._values.append(_done(parsed.values))

    def _here(self, text: bytes, first: int) -> int:
        """A piece meant for the workers read here (its lines numbered from `first`), its
        parts' row values made at once; the number of the line after it."""
        before = len(self.raws)
        after = self._python_pieces(text, 0, len(text), first)
        for at in range(before, len(self.raws)):
            self._values.append(_done(RowValues.of(self.raws[at])))
            self.raws[at] = _typed_only(self.raws[at])  # as the workers' parts, to be joined
        return after

    def _add(self, raw: RawJobs, numbers: np.ndarray, keep: np.ndarray) -> None:
        """Rows read, their line numbers and which to keep; with the kernel, their values
        made meanwhile (the Python engine holds the GIL as it reads: its rows' values are made
        at the end, a thread contending with it for each piece costs it a third more)."""
        self.raws.append(raw)
        self.numbers.append(numbers)
        self.keep.append(keep)
        if self.engine == "kernel":
            self._values.append(self._values_pool.submit(RowValues.of, raw, threads=False))

    def _python(self, lines: list[bytes], numbers: np.ndarray, text: bytes | None = None) -> None:
        """Lines read by Python's rules: orjson, then `raw_from_records`. `text`: the lines
        joined by newlines, when they are a piece of the file: parsed in one call if it can
        (`lines` may then be empty: split from `text` only if it cannot)."""
        with _gc_paused():
            self._read_by_python(lines, numbers, text)

    def _read_by_python(self, lines: list[bytes], numbers: np.ndarray, text: bytes | None) -> None:
        if text is not None and (records := _all_objects(text, len(numbers) - 1)) is not None:
            where = list(range(len(records)))
        else:
            lines = text.split(b"\n") if text is not None else lines
            records, where = self._one_by_one(lines, numbers)
        # Integers past 64 bits: orjson reads them as floats, so those lines again, exactly.
        if text is not None:
            long = _long_digit_lines(text)
        else:
            long = {line: lines[line] for line in where if _LONG_DIGITS.search(lines[line])}
        dropped: set[int] = set()
        for i, line in enumerate(where if long else ()):
            if line not in long:
                continue
            try:
                records[i] = json.loads(long[line], parse_int=exact_int)
            except ValueError as exc:  # more digits than Python converts
                self._problem(int(numbers[line]), str(exc))
                dropped.add(i)
        if dropped:
            keep = [i for i in range(len(records)) if i not in dropped]
            records, where = [records[i] for i in keep], [where[i] for i in keep]
        kept = numbers[where].tolist()
        try:
            raw = raw_from_records(records)
        except TypeError:
            # Some record cannot be written as JSON text (nested past orjson's 254 levels):
            # those lines are reported, the others read.
            bad = {i: why for i, record in enumerate(records) if (why := unwritable(record))}
            for i, why in bad.items():
                self._problem(kept[i], why)
            records = [r for i, r in enumerate(records) if i not in bad]
            kept = [n for i, n in enumerate(kept) if i not in bad]
            raw = raw_from_records(records)
        if records:
            self._add(raw, np.array(kept, dtype=np.int64), np.ones(len(kept), dtype=bool))

    def _one_by_one(
        self, lines: list[bytes], numbers: np.ndarray
    ) -> tuple[list[dict[str, Any]], list[int]]:
        """The lines that are JSON objects, parsed, and where they are in `lines`; the others
        reported (blank lines are no problem)."""
        records: list[dict[str, Any]] = []
        where: list[int] = []
        loads = orjson.loads
        for i, line in enumerate(lines):
            try:
                record = loads(line)
            except orjson.JSONDecodeError as exc:
                if line.strip():
                    self._problem(int(numbers[i]), exc.msg)
                continue
            if type(record) is not dict:
                self._problem(int(numbers[i]), f"not a JSON object but {_json_kind(record)}")
                continue
            records.append(record)
            where.append(i)
        return records, where

    def _problem(self, number: int, error: str) -> None:
        self.problems.append({"file": str(self.path), "line": number + 1, "error": error})

    def frame(self, legacy_tz: LegacyTz | None) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
        self.finish()
        rows = None
        if not self.raws:
            raw = raw_from_records([])
        else:
            raw = RawJobs.concat(self.raws) if len(self.raws) > 1 else self.raws[0]
            self.raws = []  # the joined columns hold the parts; `take` lets them go
            keep = np.concatenate(self.keep)
            if not keep.all():  # rows of lines that were no record: gone (values made anew)
                raw = raw.take(np.flatnonzero(keep))
            elif len(self._values) == len(self.keep):  # every part's row values made already
                rows = RowValues.join([future.result() for future in self._values])
        self.problems.sort(key=lambda p: p["line"])
        return frame_from_raw(raw, legacy_tz=legacy_tz, rows=rows), self.problems


@dataclasses.dataclass
class _Parsed:
    """What a worker process sends back for a piece: its rows (None if it has none), their
    line numbers, the problems, the rows' values (`RowValues`) and how many lines it had
    (its newlines: the last line of a piece ends with one)."""

    lines: int
    raw: RawJobs | None
    numbers: np.ndarray
    problems: list[dict[str, Any]]
    values: RowValues | None


def _parse_piece(path: str, text: bytes | memoryview, first: int) -> _Parsed:
    """A piece of lines read by the Python engine, in a worker process (`_workers`; the
    text comes as a view of the bytearray it was read into)."""
    lines = text.obj if isinstance(text, memoryview) else text
    if not isinstance(lines, bytes | bytearray):
        lines = bytes(text)
    reader = _Reader(Path(path), "python")
    with _malloc_for_arrow(), reader:
        count = reader._python_pieces(lines, 0, len(lines), first) - first
        if not reader.raws:
            return _Parsed(count, None, np.zeros(0, dtype=np.int64), reader.problems, None)
        raw = _joined(reader.raws)
        values = RowValues.of(raw)
        numbers = np.concatenate(reader.numbers)
        return _Parsed(count, _typed_only(raw), numbers, reader.problems, values)


def _joined(raws: list[RawJobs]) -> RawJobs:
    """Parts' rows as one part, each text column in one chunk (a copy of a few MiB: the times
    are then read 1.6x faster, and the columns pickled as one array each, not one a part)."""
    raw = RawJobs.concat(raws)
    whole = {name: values.combine_chunks() for name, values in raw.text.items()}
    entities, extra = raw.entities.combine_chunks(), raw.extra.combine_chunks()
    return dataclasses.replace(raw, text=whole, entities=entities, extra=extra)


# The raw values `frame_from_raw` reads when the rows' values (`RowValues`) are made already:
# all a worker sends back (the others, mostly null, cost a third of its time pickling).
_TYPED_SLOTS = frozenset((*RECORD_FIELDS, *(slot(key) for key in ENTITY_FIELDS.values())))


def _typed_only(raw: RawJobs) -> RawJobs:
    text = {name: values for name, values in raw.text.items() if name in _TYPED_SLOTS}
    return RawJobs(raw.n, text, {}, {}, raw.entities, raw.extra)


def _worker_count() -> int:
    """How many processes parse for the Python engine: one a core it may run on, up to 4
    (measured on 2 cores only; each worker holds ~165 MiB), or `JOBTOOLS_JSONL_WORKERS`;
    below 2, the reading process alone (as where processes cannot be forked or there is no
    interpreter to start)."""
    if not hasattr(os, "fork") or not sys.executable:
        return 1
    if (wanted := os.environ.get(WORKERS_VARIABLE, "").strip()).isdigit():
        return int(wanted)
    cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    return min(len(cores) if cores else (os.cpu_count() or 1), 4)


def _done(values: RowValues) -> concurrent.futures.Future[RowValues]:
    future: concurrent.futures.Future[RowValues] = concurrent.futures.Future()
    future.set_result(values)
    return future


def _all_objects(text: bytes, newlines: int) -> list[Any] | None:
    """Every line of `text` (which has `newlines`) parsed by one orjson call (as the items of
    one array), or None when some line is not exactly one JSON object (or is blank): then
    line by line."""
    end = len(text)
    while end and text[end - 1] in _SPACE:
        end -= 1
    if not end:
        return None
    # Two copies of the piece, not four (rstrip, replace, and two concatenations).
    body = text.replace(b"\n", b",")
    try:
        values = orjson.loads(b"".join((b"[", memoryview(body)[:end], b"]")))
    except orjson.JSONDecodeError:
        return None
    lines = newlines - text.count(b"\n", end) + 1
    if len(values) != lines or not set(map(type, values)) <= {dict}:
        return None
    return list(values)


_SPACE = frozenset(b" \t\r\n\x0b\x0c")  # what bytes.rstrip() strips


def _newlines(text: bytes) -> int:
    # NumPy's count is 2x faster than bytes.count's byte-by-byte loop.
    return int(np.count_nonzero(np.frombuffer(text, dtype=np.uint8) == 10))


def _long_digit_lines(text: bytes) -> dict[int, bytes]:
    """The lines of `text` with a run of 19 digits or more, by number (from 0). Most such
    runs are inside hex ids, not numbers: read again all the same."""
    data = np.frombuffer(text, dtype=np.uint8)
    digit = data - 48  # a digit's value; the other bytes wrap past 9
    np.less(digit, 10, out=digit.view(np.bool_))  # in place: one array of the piece's size
    is_digit = digit.view(np.bool_)
    # Such a run holds a whole 8-byte word (at a multiple of 8) of digits: those words first,
    # one compare a word (in a random hex id, one word in 40 is all digits), then the exact
    # test only around them: 1.5x faster than ANDing shifted copies of the whole piece.
    words = len(data) // 8
    candidates = np.flatnonzero(is_digit[: words * 8].view(np.uint64) == _ALL_DIGITS)
    if not len(candidates):
        return {}
    # The 30 bytes where a run of 19 holding the word can be: their digits, each candidate
    # a row; a run's place is where the AND of shifted copies (2, 4, 8, 16, then 19) is set.
    starts = candidates * 8 - 11
    where = starts[:, None] + np.arange(30)
    run = is_digit[np.clip(where, 0, len(data) - 1)] & (where >= 0) & (where < len(data))
    for shift in (1, 2, 4, 8, 3):
        run = run[:, :-shift] & run[:, shift:]
    found = run.any(axis=1)
    # In order, bar a run found twice (from two words): counted once, by where it starts.
    lines: dict[int, bytes] = {}
    line = before = 0
    for place in (starts[found] + run[found].argmax(axis=1)).tolist():
        if place < before:
            continue  # a run seen already (its words' windows overlap)
        line += text.count(b"\n", before, place)
        lines[line] = text[text.rfind(b"\n", 0, place) + 1 : _line_end(text, place)]
        before = place
    return lines


def _line_end(text: bytes, at: int) -> int:
    end = text.find(b"\n", at)
    return len(text) if end < 0 else end


_ALL_DIGITS = np.uint64(0x0101010101010101)  # eight True bytes, as one word


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused, then restored as it was (by the outermost
    pause, if reads in several threads overlap): parsed records hold no cycles, and each
    collection would walk all of them again (measured on 200k records: orjson's parse 0.8 s
    with collections, 0.47 s without)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"
