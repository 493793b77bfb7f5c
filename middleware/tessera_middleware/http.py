"""Minimal HTTP GET used for discovery, JWKS and the revocation feed (stdlib only)."""

from __future__ import annotations

import ipaddress
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


# A fetcher takes (url, headers) and returns the response; tests inject their own.
Fetcher = Callable[[str, Mapping[str, str]], HttpResponse]

_LOOPBACK_NAMES = {"localhost"}


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class UrllibFetcher:
    """GET with a timeout and a size cap; plain http only to loopback unless allowed."""

    def __init__(
        self, timeout: float = 5.0, max_bytes: int = 1 << 20, allow_http: bool = False
    ) -> None:
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.allow_http = allow_http

    def __call__(self, url: str, headers: Mapping[str, str]) -> HttpResponse:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "https" and not (
            parts.scheme == "http" and (self.allow_http or _is_loopback(parts.hostname or ""))
        ):
            # Keys and revocations fetched over plain http could be forged on the path.
            raise ValueError(f"refusing to fetch {parts.scheme}:// URL for security data")
        request = urllib.request.Request(  # noqa: S310 - scheme checked above
            url, headers={"Accept": "application/json", **headers}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:  # noqa: S310
                return HttpResponse(resp.status, resp.read(self.max_bytes))
        except urllib.error.HTTPError as exc:
            # 4xx bodies matter (the revocation feed's invalid_cursor), so hand them back.
            return HttpResponse(exc.code, exc.read(self.max_bytes))
