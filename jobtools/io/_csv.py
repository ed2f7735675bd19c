"""Reading CSV files, ours and other people's: encodings, separators and errors that name the file.

Our CSVs are UTF-8, comma-separated, with multi-line text quoted. Other people's come from
Excel and friends: UTF-8 with a byte order mark, GB18030/GBK (what Excel writes on Chinese
Windows), `;` (European locales) or tab separators. `read_csv_table` finds out which, unless
told (`encoding=`, `sep=`), and turns every parser failure into one `CsvError` naming the
file and, where the parser says it, the line.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv

__all__ = ["CsvError", "read_csv_table"]

_SEPARATORS = (",", ";", "\t")
# Excel on Chinese Windows saves "CSV" in the ANSI code page, GBK; GB18030 is its superset.
_FALLBACK_ENCODING = "gb18030"


class CsvError(ValueError):
    """A CSV file could not be read; the message names the file (and the line where known)."""

    def __init__(self, path: str, reason: str, line: int | None = None) -> None:
        self.path, self.reason, self.line = path, reason, line
        where = f"{path}, line {line}" if line is not None else path
        super().__init__(f"cannot read {where}: {reason}")

    def __reduce__(self) -> tuple[type[CsvError], tuple[str, str, int | None]]:
        return (CsvError, (self.path, self.reason, self.line))


def read_csv_table(
    path: Path,
    types: dict[str, pa.DataType],
    *,
    encoding: str | None = None,
    sep: str | None = None,
) -> tuple[pa.Table, dict[str, str]]:
    """The CSV at `path` as an Arrow table (`types` for the columns it has), and how it was read.

    Returns the table and `{"encoding": ..., "sep": ...}` as detected or given.

    Raises:
        CsvError: undecodable text, a duplicated column name, rows that do not fit.
    """
    data = path.read_bytes()
    encoding = encoding or _detect_encoding(data)
    text_bytes = _as_utf8(data, encoding, path)
    header = _header(text_bytes)
    sep = sep or _sniff(header)
    names = next(csv.reader([header], delimiter=sep), [])
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise CsvError(str(path), f"duplicated column name(s): {', '.join(duplicated)}")
    options = pa_csv.ConvertOptions(
        column_types={name: types[name] for name in names if name in types},
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
    )
    # Multi-line text (a fail_reason with newlines) needs newlines_in_values, or Arrow's
    # parallel chunker cuts a row in two ("CSV parser got out of sync with chunker").
    parse = pa_csv.ParseOptions(delimiter=sep, newlines_in_values=True)
    try:
        table = pa_csv.read_csv(
            pa.py_buffer(text_bytes), parse_options=parse, convert_options=options
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        raise _explained(str(path), str(exc), text_bytes) from None
    return table, {"encoding": encoding, "sep": sep}


def _detect_encoding(data: bytes) -> str:
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return _FALLBACK_ENCODING
    return "utf-8"


def _as_utf8(data: bytes, encoding: str, path: Path) -> bytes:
    """The file's text as UTF-8 bytes without a BOM (no copy when it already is)."""
    try:
        if codecs.lookup(encoding).name == "utf-8":
            data = data.removeprefix(codecs.BOM_UTF8)
            if encoding in ("utf-8", "utf8"):
                return data
        text = data.decode(encoding)
    except LookupError:
        raise CsvError(str(path), f"unknown encoding {encoding!r}") from None
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CsvError(str(path), f"not {encoding} text", line) from None
    return text.removeprefix("\ufeff").encode("utf-8")


def _header(data: bytes) -> str:
    end = data.find(b"\n")
    return data[: end if end >= 0 else len(data)].decode("utf-8").rstrip("\r")


def _sniff(header: str) -> str:
    """The separator of the header line: the one of `, ; tab` that splits it most."""
    try:
        return csv.Sniffer().sniff(header, delimiters="".join(_SEPARATORS)).delimiter
    except csv.Error:
        counts = {
            sep: len(next(csv.reader(io.StringIO(header), delimiter=sep))) for sep in _SEPARATORS
        }
        return max(counts, key=lambda sep: counts[sep])


_ROW = re.compile(r"Row #(\d+)")


def _explained(path: str, message: str, data: bytes) -> CsvError:
    """Arrow's message in our words, with the line: Arrow's row number, or where its row is."""
    found = _ROW.search(message)
    line = int(found.group(1)) if found else None
    first = message.splitlines()[0] if message else "unreadable"
    reason = re.sub(r"^CSV parse error: ", "", first)
    reason = re.sub(r"Row #\d+: ", "", reason).replace("In CSV column", "in column")
    quoted = re.match(r"(Expected \d+ columns, got \d+): (.*)$", reason, re.DOTALL)
    if quoted:
        reason = quoted.group(1)
        at = data.find(quoted.group(2).encode("utf-8"))
        if line is None and at >= 0:
            line = data[:at].count(b"\n") + 1
    return CsvError(path, reason[0].lower() + reason[1:], line)
