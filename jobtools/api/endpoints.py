"""Where the jobs API lives: a cloud's host template, the SDK's override variables, checks.

The same API runs on several clouds (shared/reference/jobs-api.md, "Other clouds, same
API"). An endpoint is resolved in this order, as the official SDK does:

1. `endpoint=` (one URL, a comma-separated list, or a sequence of URLs);
2. the SDK's variable `HUAWEICLOUD_SDK_REGION_<SERVICE>_<REGION>` (may be a list too);
3. the cloud's template (`cloud=`, or `endpoint_template=`) with `{service}` and `{region}`.

Every URL, whatever its source, must be a plain `http(s)://host[:port][/path]`: no user info
(it would be sent as Basic auth and shown in reprs), no query and no fragment (`#` would cut
the job id off every request path, so that every id fetched one job).
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

__all__ = [
    "CLOUDS",
    "DEFAULT_CLOUD",
    "override_variable",
    "resolve_endpoints",
    "split_endpoints",
    "template_for",
    "validate_endpoint",
    "validate_region",
    "validate_service",
]

CLOUDS: dict[str, str] = {
    "huaweicloud": "https://{service}.{region}.myhuaweicloud.com",
    "huaweicloud-eu": "https://{service}.{region}.myhuaweicloud.eu",
    "otc": "https://{service}.{region}.otc.t-systems.com",
    "otc-swiss": "https://{service}.{region}.sc.otc.t-systems.com",
}
DEFAULT_CLOUD = "huaweicloud"

_SERVICE = re.compile(r"[a-z][a-z0-9-]{0,31}")
_REGION = re.compile(r"[a-z0-9][a-z0-9-]{0,47}")
# RFC 3986 path characters, less `%` (no escapes to smuggle `/..`) and the delimiters above.
_PATH = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@/]*")


def _redacted(url: str) -> str:
    """`url` fit for a message: user info masked, shortened."""
    head, sep, rest = url.partition("://")
    if sep and "@" in rest.split("/", 1)[0]:
        rest = "****@" + rest.split("@", 1)[1]
        url = head + sep + rest
    return repr(url if len(url) <= 100 else url[:97] + "...")


def validate_endpoint(url: object, source: str = "endpoint") -> str:
    """Return `url` without a trailing `/` when it is a plain http(s) base URL.

    >>> validate_endpoint("http://127.0.0.1:8080/")
    'http://127.0.0.1:8080'

    Raises:
        ValueError: naming `source` and what is wrong; a password in the URL is never shown.
    """
    if not isinstance(url, str):
        raise ValueError(f"{source} must be a string URL, got {type(url).__name__}")
    text = url.strip()
    if not text:
        raise ValueError(f"{source} is empty")
    shown = _redacted(text)
    if any(c in string.whitespace or ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise ValueError(f"{source} contains whitespace or control characters: {shown}")
    if not text.isascii():
        raise ValueError(f"{source} must be ASCII (use the punycode host name): {shown}")
    for mark, what in (("?", "a query"), ("#", "a fragment")):
        if mark in text:
            raise ValueError(f"{source} must not carry {what} ('{mark}'): {shown}")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{source} must be an http(s) URL with a host: {shown}")
    if "@" in parts.netloc:
        raise ValueError(f"{source} must not carry user info (user:password@): {shown}")
    try:
        parts.port  # noqa: B018 - urllib checks the port only when it is read
    except ValueError:
        raise ValueError(f"{source} has an invalid port: {shown}") from None
    if not parts.hostname:
        raise ValueError(f"{source} must be an http(s) URL with a host: {shown}")
    if not _PATH.fullmatch(parts.path) or "/../" in parts.path + "/" or "/./" in parts.path + "/":
        raise ValueError(f"{source} has a path that is not plain: {shown}")
    return text.rstrip("/")


def split_endpoints(value: str | Sequence[str], source: str = "endpoint") -> tuple[str, ...]:
    """One URL, a comma-separated list of them, or a sequence: each validated, in order."""
    items = value.split(",") if isinstance(value, str) else list(value)
    items = [item.strip() if isinstance(item, str) else item for item in items]
    items = [item for item in items if item != ""]
    if not items:
        raise ValueError(f"{source} names no URL")
    return tuple(dict.fromkeys(validate_endpoint(item, source) for item in items))


def validate_service(service: object) -> str:
    """The service name lower-cased (`ims`, `ecs`, …), or ValueError."""
    text = service.strip().lower() if isinstance(service, str) else ""
    if not _SERVICE.fullmatch(text):
        raise ValueError(f"service must be a name such as 'ims' or 'ecs', got {service!r:.60}")
    return text


def validate_region(region: object) -> str:
    """The region name lower-cased (`cn-north-4`, `eu-de`, …), or ValueError."""
    text = region.strip().lower() if isinstance(region, str) else ""
    if not _REGION.fullmatch(text):
        raise ValueError(f"region must be a name such as 'cn-north-4', got {region!r:.60}")
    return text


def override_variable(service: str, region: str) -> str:
    """The official SDK's variable, e.g. `HUAWEICLOUD_SDK_REGION_IMS_CN_NORTH_4`."""
    return f"HUAWEICLOUD_SDK_REGION_{service}_{region}".upper().replace("-", "_")


def template_for(cloud: str | None, endpoint_template: str | None) -> str:
    """The URL template of `cloud` (a key of CLOUDS), or `endpoint_template` checked."""
    if endpoint_template is not None:
        if cloud is not None:
            raise ValueError("give cloud= or endpoint_template=, not both")
        fields = {name for _, name, _, _ in string.Formatter().parse(endpoint_template) if name}
        if not fields <= {"service", "region"} or "region" not in fields:
            raise ValueError(
                "endpoint_template takes {region} (and {service}) and nothing else, "
                f"got {endpoint_template!r:.100}"
            )
        return endpoint_template
    name = (cloud or DEFAULT_CLOUD).strip().lower()
    if name not in CLOUDS:
        raise ValueError(f"cloud must be one of {', '.join(CLOUDS)}, got {cloud!r:.60}")
    return CLOUDS[name]


def resolve_endpoints(
    *,
    region: str | None,
    endpoint: str | Sequence[str] | None,
    service: str,
    cloud: str | None = None,
    endpoint_template: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[str, ...]:
    """The endpoints to use, first one first (see the module docstring for the order).

    >>> resolve_endpoints(region="eu-de", endpoint=None, service="ims", cloud="otc", environ={})
    ('https://ims.eu-de.otc.t-systems.com',)
    """
    service = validate_service(service)
    template = template_for(cloud, endpoint_template)
    if endpoint is not None and endpoint != "":
        return split_endpoints(endpoint, "endpoint")
    if not region:
        raise ValueError("give region= (e.g. 'cn-north-4') or endpoint=")
    region = validate_region(region)
    env = os.environ if environ is None else environ
    variable = override_variable(service, region)
    override = env.get(variable, "").strip()
    if override:
        return split_endpoints(override, variable)
    return (validate_endpoint(template.format(service=service, region=region), "endpoint"),)
