"""Origins and URLs as browsers see them: one reading shared by configuration and request checks."""

from __future__ import annotations

import ipaddress
from urllib.parse import SplitResult, urlsplit

_LOOPBACK_NAMES = {"localhost"}


def split_url(url: str) -> SplitResult | None:
    """``urlsplit`` that also checks the port; None for what no browser could use."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in 0..65535
    except ValueError:
        return None
    return parts


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of an absolute URL, as it was written."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def origin_from_parts(parts: SplitResult) -> str:
    """The origin as browsers write it in an Origin header: lower case, no default port."""
    default_port = 443 if parts.scheme == "https" else 80
    port = "" if parts.port in (None, default_port) else f":{parts.port}"
    host = parts.hostname or ""
    # urlsplit drops an IPv6 address's brackets; an Origin header keeps them.
    return f"{parts.scheme}://[{host}]{port}" if ":" in host else f"{parts.scheme}://{host}{port}"


def normalized_origin(value: str) -> str | None:
    """``value`` as an Origin header would say it, or None when it is not an http(s) origin alone."""
    parts = split_url(value.rstrip("/"))
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    if parts.path or parts.query or parts.fragment or parts.username is not None or parts.password is not None:
        return None
    return origin_from_parts(parts)


def is_loopback_url(url: str) -> bool:
    """Whether ``url`` points at this machine (where plain http and the simulator are allowed)."""
    host = urlsplit(url).hostname or ""
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
