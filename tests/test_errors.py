"""The exception tree and the one mapping from HTTP answers to it."""

from __future__ import annotations

import ast
import importlib
import pickle
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import jobtools
from jobtools import errors
from jobtools.api.sessions import BodyTooLarge, UndecodableBody
from jobtools.errors import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    ForbiddenError,
    InternalServerError,
    JobsError,
    NotFoundError,
    ServerError,
    ServiceUnavailableError,
    ThrottledError,
    UnexpectedStatusError,
)
from jobtools.io._csv import CsvError
from jobtools.io.files import CorruptInputError
from jobtools.schema import MissingColumnsError


@pytest.mark.parametrize(
    ("status", "cls", "outcome", "retriable"),
    [
        (400, BadRequestError, "bad_request", False),
        (401, AuthenticationError, "auth", False),
        (403, ForbiddenError, "forbidden", False),
        (404, NotFoundError, "not_found", False),
        (429, ThrottledError, "throttled", True),
        (500, InternalServerError, "server_error", True),
        (502, ServerError, "server_error", True),
        (503, ServiceUnavailableError, "server_error", True),
        (504, ServerError, "server_error", True),
        (501, ServerError, "server_error", False),
        (405, UnexpectedStatusError, "http_error", False),
        (409, UnexpectedStatusError, "http_error", False),
        (302, UnexpectedStatusError, "http_error", False),
    ],
)
def test_status_mapping(status, cls, outcome, retriable):
    """Each status maps to its class, outcome and retry decision."""
    exc = errors.error_for_status(status, "C.1", "msg", "rid", job_id="j")
    assert type(exc) is cls
    assert isinstance(exc, ApiError) and isinstance(exc, JobsError)
    assert (exc.status, exc.error_code, exc.message, exc.request_id, exc.job_id) == (
        status,
        "C.1",
        "msg",
        "rid",
        "j",
    )
    assert exc.outcome == outcome
    assert exc.is_retriable is retriable


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            b'{"error_code": "APIGW.0301", "error_msg": "Incorrect IAM authentication",'
            b' "request_id": "r1"}',
            ("APIGW.0301", "Incorrect IAM authentication", "r1"),
        ),
        (
            b'{"errorCode": "IMG.0030", "errorMsg": "bad project"}',
            ("IMG.0030", "bad project", None),
        ),
        (b'{"code": "Ecs.0114", "message": "job gone"}', ("Ecs.0114", "job gone", None)),
        (
            b'{"error": {"code": "IMG.0024", "message": "no such job"}}',
            ("IMG.0024", "no such job", None),
        ),
        (
            b'{"itemNotFound": {"error_code": "E1", "error_msg": "m", "request_id": "r9"}}',
            ("E1", "m", "r9"),
        ),
        ('{"error": {"code": "IMG.0023", "message": "查询失败"}}', ("IMG.0023", "查询失败", None)),
        (b"<html>502 Bad Gateway</html>", (None, "<html>502 Bad Gateway</html>", None)),
        (b"", (None, None, None)),
        (b"[1, 2]", (None, "[1, 2]", None)),
        (b'{"unrelated": 1}', (None, None, None)),
    ],
)
def test_parse_error_body_shapes(body, expected):
    """All four documented shapes (and non-JSON bodies) give code, message and request id."""
    assert errors.parse_error_body(body) == expected


@pytest.mark.parametrize("name", ["X-Request-Id", "x-request-id"])
def test_request_id_header_wins(name):
    """The X-Request-Id header is the request id, before the body's."""
    got = errors.parse_error_body(
        b'{"code": "c", "message": "m", "request_id": "body"}', {name: "h"}
    )
    assert got == ("c", "m", "h")


def test_error_from_response():
    """error_from_response reads the body and header into the right class."""
    exc = errors.error_from_response(
        404, b'{"error": {"code": "IMG.0024", "message": "gone"}}', {"X-Request-Id": "r"}
    )
    assert isinstance(exc, NotFoundError)
    assert str(exc) == "HTTP 404 IMG.0024: gone (request id r)"


def test_message_defaults_to_status():
    """An error with no message still reads sensibly."""
    assert str(errors.error_for_status(503)) == "HTTP 503: HTTP 503"


@pytest.mark.parametrize(
    ("cls", "builtin"),
    [
        (errors.InvalidIdError, ValueError),
        (errors.CredentialsError, ValueError),
        (errors.FetchTimeout, TimeoutError),
        (errors.FetchConnectionError, ConnectionError),
    ],
)
def test_builtin_bases(cls, builtin):
    """Errors that are also builtins subclass them, so plain `except ValueError` works."""
    assert issubclass(cls, builtin) and issubclass(cls, JobsError)


def test_transport_errors_are_retriable():
    """Timeouts, connection errors and bad bodies are worth another attempt; too large not."""
    assert errors.FetchTimeout("t").is_retriable
    assert errors.FetchConnectionError("c").is_retriable
    assert errors.BadBodyError("b", raw_body="x").is_retriable
    assert not errors.BodyTooLargeError("b", raw_body="").is_retriable


def _example(cls: type[BaseException]) -> BaseException:
    """An instance of `cls` with every field it has set to something other than its default."""
    if issubclass(cls, ApiError):
        return cls(429, "APIGW.0308", "slow", "r-1", job_id="j-1", retry_after=2.5)
    if issubclass(cls, errors.BadBodyError):
        return cls("not JSON", raw_body="<html>", status=200, request_id="r-1", job_id="j-1")
    if issubclass(cls, JobsError):
        return cls("no answer", job_id="j-1")
    if cls is CorruptInputError:
        return cls([{"file": "jobs.jsonl", "line": 3, "error": "not JSON"}])
    if cls is CsvError:
        return cls("jobs.csv", "not UTF-8", line=7)
    if cls is MissingColumnsError:
        return cls("failure_groups", ("status", "fail_reason"))
    if cls is BodyTooLarge:
        return cls(200, 1_000_000, compressed=True)
    if cls is UndecodableBody:
        return cls(200, "not gzip")
    if cls.__name__ == "BadFileError":
        return cls("archive/day=2024-11-06/part-0.parquet", "not a Parquet file")
    # Any other class takes a message alone; one that does not needs its own line above.
    return cls("skipped 1 line")


def _every_exception_class() -> list[type[BaseException]]:
    """Every exception (and warning) class defined anywhere in the package."""
    package = Path(jobtools.__file__).parent
    found = set()
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        if parts[-1] == "__main__":
            continue
        module = importlib.import_module(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
        found.update(
            value
            for value in vars(module).values()
            if isinstance(value, type)
            and issubclass(value, BaseException)
            and value.__module__ == module.__name__
        )
    return sorted(found, key=lambda cls: f"{cls.__module__}.{cls.__name__}")


EXCEPTIONS = _every_exception_class()


@pytest.mark.parametrize("cls", EXCEPTIONS, ids=lambda cls: cls.__name__)
def test_every_exception_pickles_with_its_fields(cls):
    """Each exception survives pickling (process pools, Dask workers) with all its fields."""
    original = _example(cls)
    copy = pickle.loads(pickle.dumps(original))
    assert type(copy) is cls
    assert (copy.args, str(copy), vars(copy)) == (original.args, str(original), vars(original))


def test_module_docstring_lists_every_error():
    """The tree in the docstring names every exception class of the module."""
    classes = [
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, Exception)
    ]
    for name in classes:
        assert name in errors.__doc__, name


@pytest.mark.parametrize(
    ("status", "code", "cls", "retriable", "stops"),
    [
        (429, "APIGW.0308", ThrottledError, True, False),
        (400, "Common.0024", ThrottledError, True, False),
        (403, "Common.0024", ThrottledError, True, False),
        (200, "Common.0024", ThrottledError, True, False),
        (503, "Common.1503", ThrottledError, True, False),
        (400, "IMG.0030", errors.AuthenticationError, False, True),
        (403, "IMG.0030", errors.AuthenticationError, False, True),
        (401, "APIGW.0301", errors.AuthenticationError, False, True),
        (400, "IMG.0023", NotFoundError, False, False),
        (400, "Common.0011", NotFoundError, False, False),
        (404, "APIGW.0101", errors.NoSuchApiError, False, True),
        (404, "APIG.0101", errors.NoSuchApiError, False, True),
        (401, "APIGW.0307", errors.AuthenticationError, False, True),
        (400, "Common.0018", errors.AuthenticationError, False, True),
        (403, "APIGW.0302", errors.ForbiddenError, False, True),
        (202, "Common.0024", ThrottledError, True, False),
        (429, "Common.1503", ThrottledError, True, False),
        (502, "APIGW.0201", errors.ServerError, True, False),
        (504, "APIGW.0201", errors.ServerError, True, False),
        (404, "IMG.0023", NotFoundError, False, False),
        (403, "IMG.0026", errors.ForbiddenError, False, True),
        (403, "IMG.0099", errors.ForbiddenError, False, False),
        (503, "IMG.0503", errors.ServiceUnavailableError, True, False),
    ],
)
def test_error_codes_decide_where_the_status_misleads(status, code, cls, retriable, stops):
    """Throttling codes are throttling under any status; IMG.0030 means the credentials."""
    exc = errors.error_for_status(status, code, "m")
    assert type(exc) is cls
    assert (exc.is_retriable, exc.stops_batch) == (retriable, stops)
    assert exc.status == status


def _raised_texts(path: Path) -> Iterator[tuple[int, str]]:
    """The string pieces of every `raise` in a module, with their line numbers."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Raise) and node.exc is not None:
            for piece in ast.walk(node.exc):
                if isinstance(piece, ast.Constant) and isinstance(piece.value, str):
                    yield piece.lineno, piece.value


PACKAGE = Path(errors.__file__).parent
LIBRARY = [
    path for path in sorted(PACKAGE.rglob("*.py")) if path.stem not in ("cli", "demo", "__main__")
]


@pytest.mark.parametrize("path", LIBRARY, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_library_errors_never_name_a_cli_flag(path):
    """Only the CLI speaks of its flags (`--force`); the library names its parameters."""
    flags = [(line, text) for line, text in _raised_texts(path) if re.search(r"--[a-z]", text)]
    assert flags == []


@pytest.mark.parametrize(
    ("outcome", "code", "refused"),
    [
        ("auth", "APIGW.0301", True),
        ("auth", None, True),
        ("forbidden", "IMG.0026", True),
        ("forbidden", "APIG.0302", True),
        ("forbidden", "IMG.0099", False),
        ("forbidden", None, False),
        ("not_found", "IMG.0023", False),
        ("http_error", "APIGW.0101", False),
        ("ok", None, False),
        (None, None, False),
    ],
)
def test_one_predicate_says_when_credentials_are_refused(outcome, code, refused):
    """`refuses_credentials` is the one definition the client, the waits and the monitor use;
    a 403 without a role code is about one job only."""
    assert errors.refuses_credentials(outcome, code) is refused
    assert errors.refused_rows([outcome], [code]).tolist() == [refused]
    assert errors.stops_batch(outcome, code) is (refused or code == "APIGW.0101")


@pytest.mark.parametrize(
    ("code", "message", "skew", "said"),
    [
        ("APIGW.0301", "verify aksk signature fail", None, "wrong AK/SK"),
        ("APIGW.0301", "verify aksk signature fail", 1200.0, "20 min behind"),
        ("APIGW.0301", "verify aksk signature fail", -400.0, "note: your clock is 7 min ahead"),
        ("APIGW.0301", "AK access failed to reach the limit,forbidden.", None, "locked"),
        ("APIGW.0307", "token expires", None, "expired"),
        ("IMG.0030", "Invalid project id or token.", 3600.0, "project id"),
        ("Common.0018", "differs", None, "project id"),
        ("IMG.0026", "Invalid role.", None, "no permission"),
    ],
)
def test_the_cause_of_a_refusal_in_a_few_words(code, message, skew, said):
    """Each refusal's likely cause, from its code, message and the server's clock."""
    assert said in errors.refusal_cause(code, message, skew)


# --- one module, exported, documented ------------------------------------------------------

README = Path(__file__).resolve().parent.parent / "README.md"
# The session's signals to the client: turned into BodyTooLargeError and BadBodyError, never
# raised to a caller, so neither exported nor in the README's table.
INTERNAL = {"BodyTooLarge", "UndecodableBody"}
PUBLIC = [cls for cls in EXCEPTIONS if cls.__name__ not in INTERNAL]


@pytest.mark.parametrize("cls", EXCEPTIONS, ids=lambda cls: cls.__name__)
def test_every_exception_lives_in_errors(cls):
    """Every exception and warning class is defined in `jobtools.errors`, nowhere else."""
    assert cls.__module__ == "jobtools.errors"


@pytest.mark.parametrize("cls", PUBLIC, ids=lambda cls: cls.__name__)
def test_every_exception_is_exported_and_in_the_readme_table(cls):
    """Users catch them as `jobtools.<Name>`, and the README's error table names each one."""
    assert getattr(jobtools, cls.__name__) is cls
    table = README.read_text(encoding="utf-8").split("## Errors", 1)[1].split("\n## ", 1)[0]
    assert f"| `{cls.__name__}` |" in table


@pytest.mark.parametrize(
    ("old", "name"),
    [
        ("jobtools.io.files", "CorruptInputError"),
        ("jobtools.io.files", "CorruptInputWarning"),
        ("jobtools.io", "CorruptInputError"),
        ("jobtools.io._csv", "CsvError"),
        ("jobtools.io.parquet", "BadFileError"),
        ("jobtools.schema", "MissingColumnsError"),
        ("jobtools.api.sessions", "BodyTooLarge"),
        ("jobtools.ids", "NearMissWarning"),
        ("jobtools.wait.polllog", "PollLogWarning"),
    ],
)
def test_old_import_paths_still_work(old, name):
    """The modules that once defined a class still offer it: the same class."""
    assert getattr(importlib.import_module(old), name) is getattr(errors, name)


def test_each_outcome_is_a_member_of_the_enum():
    """Every error class's `outcome` is an `Outcome`, equal to the text in the frames."""
    outcomes = {cls.outcome for cls in EXCEPTIONS if issubclass(cls, JobsError)}
    assert all(isinstance(outcome, jobtools.Outcome) for outcome in outcomes)
    assert outcomes <= set(jobtools.OUTCOMES)
