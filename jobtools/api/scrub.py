"""Keeping our secrets out of everything a server's answer can put into a row or a message.

A server may echo what we sent (a token, a security token, a header quoting the SK), in a
body, a header or an error text, and in any encoding JSON or a URL allows. `Scrubber`
replaces each secret with `****`:

- in raw text (`raw`: a bad body, a header, a transport error's message), where each
  character of a secret may also appear as `\\uXXXX`, `\\/`, `\\xXX`, `%XX` (once or
  twice encoded) or an HTML entity, and the whole secret base64-encoded;
- in decoded values (`value`: every string of a parsed record, keys included), after JSON
  decoding has undone its escapes, and again in every form above (a value may hold an
  escaped or URL-encoded echo of its own).

A secret cut short where some other code shortened a text (a parser quoting 100 characters
of a header line) is masked too: any 8 or more of its first or last characters, and as few
as its first 4 right before a visible cut (`...`, `…`, the text's end). Texts are
masked before they are cut (`cut`), so a cut never leaves a part of a secret behind.

Text from the server is also made storable (`clean`): lone surrogates (a non-UTF-8 header
decoded with `surrogateescape`) become U+FFFD, so no file writer chokes on one bad value.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from typing import Any

__all__ = [
    "MASK",
    "MIN_SECRET_LENGTH",
    "Scrubber",
    "clean",
    "redact_url",
]

MASK = "****"
# Shorter values would mask ordinary words; `auth._check_secret` refuses empty ones.
MIN_SECRET_LENGTH = 4
# A part of a secret this long, at its start or end, is masked too (a secret cut elsewhere).
MIN_PART = 8
_SURROGATES = re.compile("[\ud800-\udfff]")
_USERINFO = re.compile(r"(?<=://)[^/@\s]*@")


def redact_url(url: str) -> str:
    """`url` with its user info (a proxy's login) masked.

    >>> redact_url("http://alice:s3cret@proxy.corp:3128")
    'http://****@proxy.corp:3128'
    """
    return _USERINFO.sub(MASK + "@", url)


def _parts(secret: str) -> list[str]:
    """Patterns for a secret cut short: its first or last `MIN_PART`+ characters."""
    if len(secret) <= MIN_PART:
        return []
    head = re.escape(secret[:MIN_PART])
    # The head, then as much of the rest as is there; the tail, after as much as is there.
    tail_opt = ""
    for char in reversed(secret[MIN_PART:-1]):
        tail_opt = f"(?:{re.escape(char)}{tail_opt})?"
    lead_opt = ""
    for char in secret[1:-MIN_PART]:
        lead_opt = f"(?:{lead_opt}{re.escape(char)})?"
    patterns = [head + tail_opt, lead_opt + re.escape(secret[-MIN_PART:])]
    # Where a text was visibly cut (`...`, `…`, its end), even the first 4 characters go.
    short = re.escape(secret[:MIN_SECRET_LENGTH])
    rest = ""
    for char in reversed(secret[MIN_SECRET_LENGTH:MIN_PART]):
        rest = f"(?:{re.escape(char)}{rest})?"
    patterns.append(short + rest + r"(?=\.\.\.|\u2026|['\"]?$)")
    return patterns


def clean(text: str) -> str:
    """`text` with lone surrogates replaced by U+FFFD (undecodable bytes, lone escapes).

    >>> clean("r-\\udcff-1")
    'r-\\ufffd-1'
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATES.sub("\ufffd", text)
    return text


def _char_forms(char: str) -> str:
    """A regex alternation matching `char` as itself or in any escape a server may use:
    JSON (`\\u002f`, `\\/`), JavaScript and Python (`\\u{2f}`, `\\x2f`), URLs (`%2F`, and
    `%252F` encoded twice) and HTML (`&#47;`, `&#x2f;`)."""
    code = ord(char)
    forms = [re.escape(char), rf"\\u{code:04x}", rf"\\u\{{0*{code:x}\}}", rf"\\x{code:02x}"]
    forms += [rf"&#0*{code};", rf"&#x0*{code:x};"]
    if char == "/":
        forms.append(r"\\/")
    utf8 = char.encode("utf-8", "replace")
    forms.append("".join(f"%{byte:02x}" for byte in utf8))
    forms.append("".join(f"%25{byte:02x}" for byte in utf8))
    return "(?:" + "|".join(forms) + ")"


def _base64_cores(secret: str) -> list[str]:
    """What of `secret` shows in any base64 text holding it, at each of the 3 alignments (and
    in the URL-safe alphabet): the characters that do not depend on its neighbours."""
    raw = secret.encode("utf-8", "replace")
    cores = []
    for shift in range(3):
        text = base64.b64encode(b"\0" * shift + raw).decode()
        start = -(-shift * 4 // 3) + (1 if shift else 0)  # past the chars mixing in padding
        end = (shift + len(raw)) * 4 // 3  # the last char that holds only secret bits
        core = text[start:end]
        if len(core) >= 8:
            cores += [core, core.replace("+", "-").replace("/", "_")]
    return cores


class Scrubber:
    """Masks a fixed set of secrets in text, nested values and raw (possibly escaped) text."""

    def __init__(self, secrets: Iterable[str | None]) -> None:
        self.secrets = tuple(
            sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)
        )
        # One pattern for all secrets, case-insensitive: escapes' hex comes in either case,
        # and a case-folded echo of a secret is still too close to the secret to keep.
        forms = ["".join(_char_forms(c) for c in secret) for secret in self.secrets]
        # Base64 is case-sensitive; its cores are long enough that folding costs nothing.
        self._cores = tuple(core for secret in self.secrets for core in _base64_cores(secret))
        forms += [re.escape(core) for core in self._cores]
        forms += [part for secret in self.secrets for part in _parts(secret)]
        self._raw = re.compile("|".join(forms), re.IGNORECASE) if self.secrets else None
        self._heads = tuple(
            piece.lower()
            for secret in self.secrets
            if len(secret) > MIN_PART
            for piece in (secret[:MIN_PART], secret[-MIN_PART:])
        )

        self._lower = tuple(secret.lower() for secret in self.secrets)
        self._escapable = any('"' in secret or "\\" in secret for secret in self.secrets)
        self._lower_bytes = tuple(secret.encode() for secret in self._lower)

    def __bool__(self) -> bool:
        return bool(self.secrets)

    def could_hold(self, body: bytes) -> bool:
        """False when no form of a secret can be in `body` or in anything JSON decodes from it.

        Every escaped form needs `\\u`, `\\/`, `%` or `&#` in the text (any `\\` when a
        secret holds a character JSON escapes); a plain one is the secret in some letter case.
        Almost every job record passes this in a microsecond, unwalked.
        """
        if not self.secrets:
            return False
        escapes = (b"\\",) if self._escapable else (b"\\u", b"\\/", b"\\x")
        if any(mark in body for mark in (*escapes, b"%", b"&#")):
            return True
        if any(core.encode() in body for core in self._cores):
            return True
        lower = body.lower()
        return any(secret in lower for secret in self._lower_bytes) or any(
            piece.encode() in lower for piece in self._heads
        )

    def _suspect(self, text: str) -> bool:
        """False when no form of a secret, whole or cut, can be in `text` (the fast path)."""
        if "\\" in text or "%" in text or "&#" in text:
            return True
        if any(core in text for core in self._cores):
            return True
        lower = text.lower()
        return any(secret[:MIN_SECRET_LENGTH] in lower for secret in self._lower) or any(
            piece in lower for piece in self._heads
        )

    def text(self, value: str | None) -> str | None:
        """A decoded string, cleaned and with every secret masked (None stays None)."""
        if value is None:
            return None
        value = clean(value)
        for secret in self.secrets:
            if secret in value:
                value = value.replace(secret, MASK)
        return value

    def raw(self, value: str | None) -> str | None:
        """Raw text as it came: secrets masked in plain or escaped form, then as `text`."""
        if value is None:
            return None
        value = clean(value)
        if self._raw is not None and self._suspect(value) and self._raw.search(value):
            value = self._raw.sub(MASK, value)
        return value

    def cut(self, value: str, limit: int) -> str:
        """`value` masked (`raw`), then shortened to `limit` characters: never the other way
        round, so no part of a secret survives a cut."""
        return (self.raw(value) or "")[:limit]

    def value(self, value: Any) -> Any:
        """A parsed JSON value with every string (keys too) passed through `raw`.

        Returns the same object when nothing needed masking, so clean records cost no copy.
        """
        if isinstance(value, str):
            return self.raw(value)
        if isinstance(value, dict):
            out = {}
            changed = False
            for key, item in value.items():
                new_key = self.raw(key) if isinstance(key, str) else key
                new_item = self.value(item)
                changed = changed or new_key is not key or new_item is not item
                out[new_key] = new_item
            return out if changed else value
        if isinstance(value, list):
            items = [self.value(item) for item in value]
            if any(new is not old for new, old in zip(items, value, strict=True)):
                return items
            return value
        return value
