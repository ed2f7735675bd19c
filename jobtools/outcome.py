"""The outcome of fetching one job id: the values of the frame's `outcome` column.

A module of its own, importing nothing, so that `jobtools.errors` (each error class carries
its outcome) and `jobtools.schema` (the column's categories) both take it from one place.
Being a `StrEnum`, a member equals its text: frames and files hold the same strings as before.
"""

from __future__ import annotations

import enum

__all__ = ["Outcome"]


class Outcome(enum.StrEnum):
    """How fetching one job id went (the `outcome` column)."""

    OK = "ok"
    NOT_FOUND = "not_found"
    AUTH = "auth"
    FORBIDDEN = "forbidden"
    THROTTLED = "throttled"
    SERVER_ERROR = "server_error"
    TIMEOUT = "timeout"
    BAD_BODY = "bad_body"
    CONNECTION_ERROR = "connection_error"
    BAD_REQUEST = "bad_request"
    HTTP_ERROR = "http_error"
    MISMATCHED_ID = "mismatched_id"  # a 200 naming another job than the one asked
    TOO_LARGE = "too_large"  # a body over the client's size cap
    INVALID_ID = "invalid_id"  # an id that cannot be sent (e.g. a lone surrogate)
    CLIENT_ERROR = "client_error"  # an unforeseen error while handling this id's answer
