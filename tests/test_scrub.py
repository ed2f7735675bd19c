"""Masking our secrets in text, raw bodies and parsed records, in every encoding."""

from __future__ import annotations

import base64

import pytest

from jobtools.api.scrub import MASK, Scrubber, clean

SECRET = "sk/SECRET+key=9876"


def forms(secret: str) -> list[str]:
    """Ways a server can echo `secret`."""
    return [
        secret,
        secret.upper(),
        secret.replace("/", "\\/"),
        "".join(f"\\u{ord(c):04x}" for c in secret),
        "".join(f"\\u{ord(c):04X}" for c in secret),
        "".join(f"%{ord(c):02x}" for c in secret),
        "".join(f"&#{ord(c)};" for c in secret),
        "".join(f"&#x{ord(c):x};" for c in secret),
        "".join(f"%25{ord(c):02x}" for c in secret),
        "".join(f"\\x{ord(c):02x}" for c in secret),
        "".join(f"\\u{{{ord(c):x}}}" for c in secret),
        # mixed: some characters escaped, some not
        "".join(f"\\u{ord(c):04x}" if i % 2 else c for i, c in enumerate(secret)),
    ]


@pytest.mark.parametrize("prefix", [b"", b"u:", b"us:", b"use:"])
@pytest.mark.parametrize("encode", [base64.b64encode, base64.urlsafe_b64encode])
def test_raw_masks_a_secret_in_base64_at_any_alignment(prefix, encode):
    """Base64 of a text holding the secret (a Basic auth echo) loses the secret's part."""
    scrub = Scrubber([SECRET])
    text = encode(prefix + SECRET.encode() + b"!").decode()
    masked = scrub.raw(text)
    assert MASK in masked and len(masked) < len(text) - 12
    assert scrub.could_hold(text.encode())


@pytest.mark.parametrize("form", forms(SECRET))
def test_raw_masks_every_form(form):
    """Plain, case-folded, JSON-, URL- and HTML-escaped echoes are all masked."""
    scrub = Scrubber([SECRET])
    assert scrub.raw(f"before {form} after") == f"before {MASK} after"
    assert scrub.could_hold(f"x{form}x".encode())


def test_value_masks_keys_and_nested_values_and_keeps_clean_objects():
    """Every string of a record is masked, keys too; a clean record is returned as is."""
    scrub = Scrubber([SECRET, "tok-12345"])
    record = {"a": [SECRET, {"b": "x tok-12345 y"}], SECRET: 1, "n": 2}
    assert scrub.value(record) == {"a": [MASK, {"b": f"x {MASK} y"}], MASK: 1, "n": 2}
    clean_record = {"a": ["x", {"b": "y"}], "n": None}
    assert scrub.value(clean_record) is clean_record


def test_clean_bodies_need_no_walk():
    """A body with no escape marks and no secret is known clean without decoding it."""
    scrub = Scrubber([SECRET])
    assert not scrub.could_hold(b'{"status": "SUCCESS", "fail_reason": "a \\"quoted\\" x"}')
    assert scrub.could_hold(b'{"x": "\\u0073k"}')


def test_short_or_missing_secrets_are_ignored():
    """Empty and very short values are not secrets worth masking (they would mask words)."""
    scrub = Scrubber([None, "", "abc"])
    assert not scrub
    assert scrub.raw("abc") == "abc" and not scrub.could_hold(b"abc")


def test_clean_replaces_lone_surrogates():
    """Undecodable header bytes (surrogate escapes) become U+FFFD, storable anywhere."""
    assert clean("r-\udcff\udcfe") == "r-\ufffd\ufffd"
    assert clean("ok") == "ok"
