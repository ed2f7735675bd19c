"""Reading CSV files, ours and other people's: encodings, separators and errors that name the file.

Our CSVs are UTF-8, comma-separated, with multi-line text quoted. Other people's come from
Excel and friends: UTF-8 with a byte order mark, UTF-16 (Notepad's "Unicode"), the ANSI code
page of the machine (GB18030/GBK on Chinese Windows, Big5 on Taiwanese, cp1252 in Western
Europe), `;` (European locales) or tab separators, and Excel's `sep=;` first line.
`read_csv_table` finds out which, unless told (`encoding=`, `sep=`), and turns every parser
failure into one `CsvError` naming the file and, where known, the line.

Text that is not UTF-8 is identified by charset-normalizer, whose candidates are ranked by how
common their characters are (the frequent hanzi of GB2312 or of Big5, the letters of European
languages): on a few words of Chinese it alone often answers Korean. A guess that another
encoding could have made almost as well is reported with `EncodingGuessWarning`.

A quote that opens a field and runs past the end of its line into what are plainly later rows
(a stray `"reason 3`) is found: an error naming the line where it opened or, with
`on_bad_lines="skip"`, that line left out and the rest read as its lines say.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
import warnings
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from jobtools.errors import CsvError, EncodingGuessWarning
from jobtools.schema import STATUS_ORDER

__all__ = [
    "CsvError",
    "EncodingGuessWarning",
    "OnBadLines",
    "decode_text",
    "read_csv_table",
    "sniff_header",
]

OnBadLines = Literal["error", "skip"]

_SEPARATORS = (",", ";", "\t")
# The ANSI code pages of the people who send us files, tried beside charset-normalizer's own
# candidates (it does not always name them on short text).
_REGIONAL = ("gb18030", "big5", "cp1252", "cp1250")
# Several encodings can give the same text; this order breaks the tie (GBK is GB18030's
# subset, so a GBK file is read as GB18030).
_PREFERRED = ("utf_16", "gb18030", "big5", "cp1252", "shift_jis", "euc_kr", "cp1250", "cp1251")
_SAME_AS = {"gbk": "gb18030", "gb2312": "gb18030", "cp936": "gb18030", "cp950": "big5"}
_MULTIBYTE = frozenset({"gb18030", "big5", "big5hkscs", "shift_jis", "cp932", "euc_jp", "euc_kr"})
_COMMON = re.compile(
    r"cp125\d|iso8859_\d+|latin_1|gb18030|big5|shift_jis|cp932|euc_jp|euc_kr|cp949|koi8_[ru]"
    r"|utf_16(_[lb]e)?|mac_roman"
)
# How much of a file the encoding guess looks at.
_SAMPLE = 1 << 18
# A guess whose text is this share of common characters or less, or that another encoding
# matches within the margin, is not confident.
_CONFIDENT, _MARGIN = 0.8, 0.1
# Excel's first line naming the separator (`sep=;`), which Excel writes and reads.
_SEP_LINE = re.compile(rb"^sep=(.)\r?\n")


def read_csv_table(
    path: Path,
    types: dict[str, pa.DataType],
    *,
    encoding: str | None = None,
    sep: str | None = None,
    on_bad_lines: OnBadLines = "error",
) -> tuple[pa.Table, dict[str, Any]]:
    """The CSV at `path` as an Arrow table (`types` for the columns it has), and how it was read.

    Returns the table and `{"encoding": ..., "sep": ..., "skipped_lines": [...]}` as
    detected or given; `skipped_lines` lists `{"line", "error"}` for the lines left out with
    `on_bad_lines="skip"`.

    Raises:
        CsvError: an empty file, lines ending in CR alone, undecodable text, a duplicated
            column name, rows that do not fit, a quote that swallows later rows.
    """
    data = path.read_bytes()
    encoding = encoding or _detected(data, path)
    text_bytes = _as_utf8(data, encoding, path)
    if not text_bytes.strip():
        raise CsvError(str(path), "the file is empty: no header line, no rows")
    first_line = 1
    excel_sep = _SEP_LINE.match(text_bytes)
    if excel_sep:
        text_bytes = text_bytes[excel_sep.end() :]
        sep = sep or excel_sep.group(1).decode("utf-8")
        first_line = 2
    if b"\r" in text_bytes.rstrip(b"\r") and b"\n" not in text_bytes:
        raise CsvError(
            str(path),
            "its lines end in CR alone (classic Mac OS); save it with Windows (CRLF) or Unix "
            "(LF) line ends",
        )
    header = _header(text_bytes)
    sep = sep or _sniff(header)
    names = next(csv.reader([header], delimiter=sep), [])
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise CsvError(str(path), f"duplicated column name(s): {', '.join(duplicated)}")
    skipped: list[dict[str, Any]] = []
    while True:
        # With "skip", rows of the wrong number of fields are left out too (and counted).
        misfits: list[Any] | None = [] if on_bad_lines == "skip" else None
        table, failure = _parse(path, text_bytes, names, types, sep, first_line, misfits)
        suspect = failure is not None or _suspect(table, sep)
        stray = _stray_quote(text_bytes, sep, names, table) if suspect else None
        if stray is None:
            if failure is not None:
                raise failure
            break
        start, opened = stray
        reason = "a quote opened here is not closed before later rows (a stray quote?)"
        if on_bad_lines != "skip" or len(skipped) >= 1000:
            raise CsvError(str(path), reason, opened + first_line - 1)
        # Read as the line structure says: the lines of the broken row up to the one where
        # its quote opened are left out, and reading starts again.
        skipped += [
            {"line": line + first_line - 1, "error": reason} for line in range(start, opened + 1)
        ]
        text_bytes = _without_lines(text_bytes, start, opened)
    assert table is not None
    skipped += _misfit_lines(misfits or [], text_bytes, first_line)
    skipped.sort(key=lambda problem: problem["line"] or 0)
    how = {"encoding": encoding, "sep": sep, "skipped_lines": skipped}
    return table, how


def _parse(
    path: Path,
    text_bytes: bytes,
    names: list[str],
    types: dict[str, pa.DataType],
    sep: str,
    first_line: int,
    misfits: list[Any] | None = None,
) -> tuple[pa.Table | None, CsvError | None]:
    options = pa_csv.ConvertOptions(
        column_types={name: types[name] for name in names if name in types},
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
    )
    # Multi-line text (a fail_reason with newlines) needs newlines_in_values, or Arrow's
    # parallel chunker cuts a row in two ("CSV parser got out of sync with chunker").
    parse = pa_csv.ParseOptions(delimiter=sep, newlines_in_values=True)
    if misfits is not None:

        def skip(row: Any) -> str:
            misfits.append(row)
            return "skip"

        parse.invalid_row_handler = skip
    try:
        table = pa_csv.read_csv(
            pa.py_buffer(text_bytes), parse_options=parse, convert_options=options
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        return None, _explained(str(path), str(exc), text_bytes, first_line - 1)
    return table, None


def _suspect(table: pa.Table | None, sep: str) -> bool:
    """Whether a text value holds a line break followed by a line as long as a whole row.

    Cheap (Arrow's regex over the columns): the exact check is `_stray_quote`.
    """
    if table is None or table.num_columns < 2:
        return False
    row_like = rf"\n(?:[^\n]*{re.escape(sep)}){{{table.num_columns - 1}}}"
    for column in table.columns:
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            continue
        # The plain search first: most columns have no line break at all.
        broken = pc.fill_null(pc.match_substring(column, "\n"), False)
        if not pc.any(broken).as_py():
            continue
        if pc.any(pc.match_substring_regex(column.filter(broken), row_like)).as_py():
            return True
    return False


def _stray_quote(
    data: bytes, sep: str, names: list[str], table: pa.Table | None
) -> tuple[int, int] | None:
    """Where a quoted value swallows later rows: (its row's first line, the line it opened).

    A value spanning lines is ordinary (a multi-line fail_reason); one with a line inside it
    that reads as a whole row of this file (as many fields, a job id where `job_id` is, a
    status this file or the service has where `status` is) is a quote that never closed where
    it should.
    """
    if len(names) < 2 or "job_id" not in names:
        return None
    statuses = set(STATUS_ORDER)
    if table is not None and "status" in table.column_names:
        statuses |= {str(v) for v in pc.unique(table.column("status")).to_pylist() if v}

    def is_row(cells: list[str]) -> bool:
        if len(cells) != len(names):
            return False
        job_id = cells[names.index("job_id")]
        if not job_id or any(ch.isspace() for ch in job_id):
            return False
        return "status" not in names or cells[names.index("status")] in statuses

    lines = io.StringIO(data.decode("utf-8"), newline="")
    reader = csv.reader(lines, delimiter=sep, strict=False)
    previous = 0
    for record in reader:
        start, previous = previous + 1, reader.line_num
        for index, value in enumerate(record):
            if "\n" not in value or not _swallows_rows(value, sep, is_row):
                continue
            before = sum(cell.count("\n") for cell in record[:index])
            return start, start + before
    return None


def _swallows_rows(value: str, sep: str, is_row: Any) -> bool:
    for line in value.split("\n")[1:]:
        if is_row(next(csv.reader([line.rstrip("\r")], delimiter=sep), [])):
            return True
    return False


def _misfit_lines(rows: list[Any], data: bytes, first_line: int) -> list[dict[str, Any]]:
    """The rows Arrow left out for their number of fields, with the line each starts on."""
    found, at = [], 0
    for row in rows:
        where = data.find(row.text.encode("utf-8"), at)
        line = None
        if where >= 0:
            line, at = data.count(b"\n", 0, where) + first_line, where + 1
        reason = f"expected {row.expected_columns} fields, found {row.actual_columns}"
        found.append({"line": line, "error": reason})
    return found


def _without_lines(data: bytes, first: int, last: int) -> bytes:
    """The text without its lines `first`..`last` (1-based, the header is line 1)."""
    lines = data.split(b"\n")
    return b"\n".join(lines[: first - 1] + lines[last:])


# --- encodings -----------------------------------------------------------------------------


def decode_text(data: bytes, path: Path | str, *, final: bool = True) -> tuple[str, str]:
    """Bytes of a text file as text, and the encoding read (detected as for CSV files).

    `final=False`: `data` is the start of the file, maybe cut inside a character.
    """
    encoding = _detected(data, Path(path), final=final)
    if final:
        return _as_utf8(data, encoding, Path(path)).decode("utf-8"), encoding
    text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(data, final=False)
    return text.removeprefix("\ufeff"), encoding


def _detected(data: bytes, path: Path, *, final: bool = True) -> str:
    """The encoding of `data`: a BOM, UTF-8, UTF-16 by its zero bytes, else the best guess."""
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    sample = data[:_SAMPLE]
    zeros = _utf16_without_bom(sample)
    if zeros:
        return zeros
    try:
        # Not final: the start of a file may end inside a character.
        codecs.getincrementaldecoder("utf-8")().decode(data, final=final)
    except UnicodeDecodeError:
        pass
    else:
        return "utf-8"
    return _guessed(sample, path)


def _utf16_without_bom(sample: bytes) -> str | None:
    """UTF-16 without a BOM: text of mostly Latin characters has a zero in every other byte."""
    pairs = len(sample) // 2
    if pairs < 2:
        return None
    even, odd = sample[0 : 2 * pairs : 2].count(0), sample[1 : 2 * pairs : 2].count(0)
    if odd > 0.4 * pairs and even == 0:
        return "utf-16-le"
    if even > 0.4 * pairs and odd == 0:
        return "utf-16-be"
    # Text in another script has few zero bytes, but every line end is one 16-bit unit.
    breaks = sample.count(b"\n")
    if breaks >= 2:
        little = sum(m.start() % 2 == 0 for m in re.finditer(b"\n\x00", sample))
        big = sum(m.start() % 2 == 0 for m in re.finditer(b"\x00\n", sample))
        if little >= breaks - 1:
            return "utf-16-le"
        if big >= breaks - 1:
            return "utf-16-be"
    return None


def _guessed(sample: bytes, path: Path) -> str:
    from charset_normalizer import from_bytes

    # A sample cut inside a character would count against the right encoding: trimmed.
    candidates: list[str] = []
    for match in from_bytes(sample):
        for name in [match.encoding, *match.could_be_from_charset]:
            candidates.append(_SAME_AS.get(name, name))
    candidates += _REGIONAL
    # Code pages nobody saves a spreadsheet in any more (hp_roman8, cp775...) only when no
    # common one reads the bytes.
    common = [name for name in candidates if _COMMON.fullmatch(name)]
    candidates = common or candidates
    scored: dict[str, float] = {}
    texts: dict[str, str] = {}
    for name in dict.fromkeys(candidates):
        text = _decoded_sample(sample, name)
        if text is not None:
            scored[name] = _common_share(text, name)
            texts[name] = text
    if not scored:
        raise CsvError(str(path), "the text is in no encoding known here; give encoding=")

    def rank(name: str) -> tuple[float, int]:
        order = _PREFERRED.index(name) if name in _PREFERRED else len(_PREFERRED)
        return (-scored[name], order)

    ranked = sorted(scored, key=rank)
    best = ranked[0]
    rivals = [
        name
        for name in ranked[1:]
        if texts[name] != texts[best] and scored[name] >= scored[best] - _MARGIN
    ]
    if scored[best] <= _CONFIDENT or rivals:
        others = f" (or {', '.join(rivals[:3])})" if rivals else ""
        warnings.warn(
            f"{path}: the text encoding is not certain; read as {best}{others}: check the text "
            "or give encoding=",
            EncodingGuessWarning,
            stacklevel=5,
        )
    return best


def _decoded_sample(sample: bytes, encoding: str) -> str | None:
    # Up to 3 bytes at the end may be part of a character cut by the sample.
    for cut in range(4):
        try:
            return sample[: len(sample) - cut].decode(encoding)
        except UnicodeDecodeError as exc:
            if exc.start < len(sample) - 4:
                return None
        except LookupError:
            return None
    return None


# The accented letters of the languages written in the Latin code pages, one set each: text
# read with the wrong code page mixes letters of several (French é beside Lithuanian ą).
_LANGUAGES = tuple(
    frozenset(letters + letters.upper())
    for letters in (
        "éèêëàâîïôûùüçœæ",  # French
        "äöüß",  # German
        "áéíóúñü",  # Spanish
        "áâãàçéêíóôõú",  # Portuguese
        "àèéìíîòóùú",  # Italian
        "éëïöüáèà",  # Dutch
        "åäöæøé",  # Nordic
        "ąćęłńóśźż",  # Polish
        "áčďéěíňóřšťúůýžäĺľô",  # Czech, Slovak
        "áéíóöőúüű",  # Hungarian
        "ăâîșțşţ",  # Romanian
        "çğıöşüi",  # Turkish
        "ąčęėįšųūžāēģīķļņ",  # Baltic
        "čćđšž",  # Croatian, Slovene
    )
)
_SYMBOLS = "€°£§«»–“”‘’—…·"


def _common_share(text: str, encoding: str) -> float:
    """The share of the non-ASCII characters that are common in a language that encoding writes.

    Hanzi count when among the frequent ones of the encoding's own standard (GB2312's first
    level for GB18030, Big5's frequent range for Big5): text read with the wrong one of the
    two comes out in rare characters. Accented Latin letters count for the one language that
    has most of them.
    """
    chars = [ch for ch in text if ord(ch) > 127]
    if not chars:
        return 1.0
    multibyte = encoding in _MULTIBYTE
    common = 0
    latin: list[str] = []
    for ch in chars:
        code = ord(ch)
        if 0x4E00 <= code <= 0x9FFF:
            common += _frequent_hanzi(ch, encoding)
        elif 0x3000 <= code <= 0x303F or 0xFF01 <= code <= 0xFF5E:
            common += 1
        elif ch in _SYMBOLS:
            common += not multibyte or ch in "“”‘’—…·"
        elif 0x3040 <= code <= 0x30FF:
            common += encoding in ("shift_jis", "cp932", "euc_jp")
        elif 0xAC00 <= code <= 0xD7A3:
            common += encoding in ("euc_kr", "cp949") and _common_hangul(ch)
        elif 0x0400 <= code <= 0x04FF:
            common += encoding in ("cp1251", "koi8_r")
        elif code < 0x250 and ch.isalpha() and not multibyte:
            latin.append(ch)
        elif unicodedata.category(ch) in ("Cc", "Co", "Cn", "Cs"):
            common -= 1
    if latin:
        common += max(sum(ch in letters for ch in latin) for letters in _LANGUAGES)
    return common / len(chars)


def _frequent_hanzi(ch: str, encoding: str) -> bool:
    """Whether a hanzi (kanji) is among the frequent ones of the encoding's standard."""
    try:
        if encoding in ("big5", "big5hkscs"):
            code = int.from_bytes(ch.encode("big5"), "big")
            return 0xA440 <= code <= 0xC67E
        if encoding == "gb18030":
            return 0xB0 <= ch.encode("gb2312")[0] <= 0xD7
        if encoding in ("shift_jis", "cp932", "euc_jp"):
            return 0x88 <= ch.encode("shift_jis")[0] <= 0x98  # JIS level 1
    except UnicodeEncodeError:
        return False
    return False  # Korean text is written in hangul: hanja in it are rare


def _common_hangul(ch: str) -> bool:
    """Hangul of KS X 1001's 2,350 (cp949's other 8,822 are rare)."""
    try:
        ch.encode("euc_kr")
    except UnicodeEncodeError:
        return False
    return True


def _as_utf8(data: bytes, encoding: str, path: Path) -> bytes:
    """The file's text as UTF-8 bytes without a BOM (no copy when it already is)."""
    try:
        if codecs.lookup(encoding).name == "utf-8":
            data = data.removeprefix(codecs.BOM_UTF8)
            if encoding in ("utf-8", "utf8"):
                data.decode("utf-8")  # checked: a given encoding can be wrong
                return data
        text = data.decode(encoding)
    except LookupError:
        raise CsvError(str(path), f"unknown encoding {encoding!r}") from None
    except UnicodeDecodeError as exc:
        line = data[: exc.start].decode(encoding, errors="replace").count("\n") + 1
        raise CsvError(str(path), f"not {encoding} text", line) from None
    return text.removeprefix("\ufeff").encode("utf-8")


def sniff_header(text: str) -> list[str]:
    """The column names of a CSV's text (an Excel `sep=` line honoured, the separator sniffed)."""
    lines = text.splitlines()
    sep = None
    if lines and re.fullmatch(r"sep=.", lines[0]):
        sep, lines = lines[0][4], lines[1:]
    header = lines[0] if lines else ""
    return next(csv.reader([header], delimiter=sep or _sniff(header)), [])


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


def _explained(path: str, message: str, data: bytes, offset: int = 0) -> CsvError:
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
    return CsvError(path, reason[0].lower() + reason[1:], None if line is None else line + offset)
