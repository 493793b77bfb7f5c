"""Local revocation state fed by the IdP's revocation feed, with a staleness policy."""

from __future__ import annotations

import base64
import logging
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from tessera_middleware.errors import ServiceUnavailable
from tessera_middleware.http import Fetcher, UrllibFetcher
from tessera_middleware.jwks import Metadata, fetch_metadata
from tessera_middleware.tokens import AccessToken

log = logging.getLogger(__name__)

Listener = Callable[[Mapping[str, Any]], None]


def _now() -> float:
    return time.time()


def is_write_scope(scope: str) -> bool:
    """Default predicate: ``orders:write`` is a write scope, ``orders:read`` is not."""
    return scope.endswith(":write")


def _entries(items: Any, key: str, when: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and isinstance(item.get(key), str):
            value = item.get(when)
            # No usable expiry means "keep until a full snapshot says otherwise".
            out[item[key]] = float(value) if isinstance(value, int | float) else float("inf")
        else:
            log.warning("ignoring malformed revocation feed entry %r", item)
    return out


def _cutoffs(items: Any) -> dict[str, tuple[float, float]]:
    """client_id -> (issued_before, until): the app's tokens with an earlier iat are revoked."""
    out: dict[str, tuple[float, float]] = {}
    for item in items if isinstance(items, list) else []:
        before = item.get("issued_before") if isinstance(item, dict) else None
        if isinstance(item.get("client_id") if isinstance(item, dict) else None, str) and (
            isinstance(before, int | float) and not isinstance(before, bool)
        ):
            until = item.get("until")
            until = float(until) if isinstance(until, int | float) else float("inf")
            out[item["client_id"]] = _later(out.get(item["client_id"]), (float(before), until))
        else:
            log.warning("ignoring malformed revocation feed entry %r", item)
    return out


def _later(old: tuple[float, float] | None, new: tuple[float, float]) -> tuple[float, float]:
    """Of two cut-offs for one app, the later one ends more tokens and lasts longer."""
    return new if old is None else (max(old[0], new[0]), max(old[1], new[1]))


def _names(items: Any) -> set[str]:
    return {i for i in items if isinstance(i, str)} if isinstance(items, list) else set()


class RevocationState:
    """Revoked token ids, revoked grant ids, suspended apps and the cut-offs of unsuspended
    apps (their tokens issued before stay revoked), pruned as they expire.

    ``max_staleness`` seconds after the last successful sync the data is *stale*: then
    ``check_fresh`` refuses operations needing a write scope (fail closed) and lets reads
    through on the last known state (fail open). ``None`` disables the policy.
    """

    def __init__(
        self,
        *,
        max_staleness: float | None = 60.0,
        is_write: Callable[[str], bool] = is_write_scope,
        clock: Callable[[], float] = _now,
    ) -> None:
        self.max_staleness = max_staleness
        self.is_write = is_write
        self._clock = clock
        self._jti: dict[str, float] = {}
        self._gid: dict[str, float] = {}
        self._suspended: frozenset[str] = frozenset()
        # Unsuspended apps whose earlier tokens stay revoked: client_id -> (issued_before, until)
        self._cutoffs: dict[str, tuple[float, float]] = {}
        self.last_sync: float | None = None
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()

    def revoked_reason(self, token: AccessToken) -> str | None:
        # Three dict/set lookups: this runs on every request, cached token or not.
        if token.jti in self._jti:
            return "the token has been revoked"
        if token.grant_id is not None and token.grant_id in self._gid:
            return "the user's authorization of this app has been revoked"
        if token.client_id in self._suspended:
            return "the app has been suspended"
        cutoff = self._cutoffs.get(token.client_id) if self._cutoffs else None
        if cutoff is not None and token.issued_at < cutoff[0]:
            return "the token was revoked when its app was suspended"
        return None

    def apply(self, doc: Mapping[str, Any]) -> None:
        """Apply one feed response: ``full`` replaces everything, otherwise a delta."""
        jti = _entries(doc.get("revoked_tokens"), "jti", "exp")
        gid = _entries(doc.get("revoked_grants"), "gid", "until")
        suspended, restored = (
            _names(doc.get("suspended_clients")),
            _names(doc.get("restored_clients")),
        )
        cutoffs = _cutoffs(doc.get("client_cutoffs"))
        with self._lock:
            if doc.get("full"):
                # Swap whole objects so concurrent readers see old or new, never half.
                self._jti, self._gid = jti, gid
                self._suspended = frozenset(suspended - restored)
                self._cutoffs = cutoffs
            else:
                self._jti.update(jti)
                self._gid.update(gid)
                self._suspended = frozenset((self._suspended | suspended) - restored)
                merged = dict(self._cutoffs)
                for client_id, cutoff in cutoffs.items():
                    merged[client_id] = _later(merged.get(client_id), cutoff)
                self._cutoffs = merged
            self._prune_locked(self._clock())
        for listener in list(self._listeners):
            try:
                listener(doc)
            except Exception:
                log.exception("revocation listener failed")

    def mark_synced(self, at: float | None = None) -> None:
        self.last_sync = self._clock() if at is None else at

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def prune(self) -> None:
        with self._lock:
            self._prune_locked(self._clock())

    def _prune_locked(self, now: float) -> None:
        for table in (self._jti, self._gid):
            for key in [k for k, until in table.items() if until <= now]:
                del table[key]
        if any(until <= now for _before, until in self._cutoffs.values()):
            self._cutoffs = {k: v for k, v in self._cutoffs.items() if v[1] > now}

    def is_stale(self) -> bool:
        if self.max_staleness is None:
            return False
        return self.last_sync is None or self._clock() - self.last_sync > self.max_staleness

    def check_fresh(self, scopes: Iterable[str]) -> None:
        """Raise ``ServiceUnavailable`` if the data is stale and any scope is a write."""
        if self.is_stale() and any(self.is_write(s) for s in scopes):
            raise ServiceUnavailable("revocation data is stale; write operations are paused")

    def snapshot(self) -> dict[str, Any]:
        """The current state as a ``full: true`` feed document (for late-joining peers)."""
        return {
            "full": True,
            "revoked_tokens": [{"jti": k, "exp": v} for k, v in list(self._jti.items())],
            "revoked_grants": [{"gid": k, "until": v} for k, v in list(self._gid.items())],
            "suspended_clients": sorted(self._suspended),
            "client_cutoffs": [
                {"client_id": k, "issued_before": before, "until": until}
                for k, (before, until) in list(self._cutoffs.items())
            ],
        }

    def __len__(self) -> int:
        return len(self._jti) + len(self._gid) + len(self._suspended) + len(self._cutoffs)


class RevocationFeedPoller:
    """Polls ``revocation_feed_endpoint`` in a daemon thread and feeds a ``RevocationState``."""

    def __init__(
        self,
        state: RevocationState,
        *,
        client_id: str,
        client_secret: str,
        endpoint: str | None = None,
        issuer: str | None = None,
        http: Fetcher | None = None,
        default_interval: float = 5.0,
        min_interval: float = 1.0,
        max_interval: float = 300.0,
    ) -> None:
        if endpoint is None and issuer is None:
            raise ValueError("give the feed endpoint or the issuer to discover it from")
        self.state = state
        self._endpoint = endpoint
        self.issuer = issuer
        self._metadata: Metadata | None = None
        self._http = http or UrllibFetcher()
        pair = f"{urllib.parse.quote(client_id)}:{urllib.parse.quote(client_secret)}"
        self._auth = {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}
        self.interval = default_interval
        self.default_interval = default_interval
        self.min_interval, self.max_interval = min_interval, max_interval
        self.cursor: str | None = None
        # Where the pushed channels stood when the last full snapshot was taken (its
        # `stream_seq`): a stream consumer continues from there (docs/revocation-events.md).
        self.stream_seq: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def metadata(self) -> Metadata | None:
        """The issuer's discovery document, kept after the first read; None when the poller
        was given its endpoint and no issuer. The pushed channels find themselves in it."""
        if self._metadata is None and self.issuer is not None:
            self._metadata = fetch_metadata(self.issuer, self._http)
        return self._metadata

    def endpoint(self) -> str:
        if self._endpoint is None:
            meta = self.metadata()
            if meta is None or not meta.revocation_feed_endpoint:
                raise ServiceUnavailable("the IdP advertises no revocation feed")
            self._endpoint = meta.revocation_feed_endpoint
        return self._endpoint

    def auth_headers(self) -> dict[str, str]:
        """The resource server's credentials, for the event stream too."""
        return dict(self._auth)

    def _url(self) -> str:
        base = self.endpoint()
        if self.cursor is None:
            return base
        sep = "&" if "?" in base else "?"
        return f"{base}{sep}since={urllib.parse.quote(self.cursor, safe='')}"

    def poll_once(self) -> bool:
        """One fetch and apply; True on success. On failure the last state is kept."""
        try:
            for _attempt in range(2):
                resp = self._http(self._url(), self._auth)
                if resp.status == 200:
                    self._accept(resp.json())
                    return True
                if self.cursor is not None and self._cursor_rejected(resp.status, resp.body):
                    log.info("revocation cursor rejected; fetching a full snapshot")
                    self.cursor = None
                    continue
                log.warning("revocation feed answered HTTP %s", resp.status)
                return False
        except (OSError, ValueError, ServiceUnavailable) as exc:
            log.warning("revocation feed unreachable, keeping last state: %s", exc)
        return False

    def load_snapshot(self) -> int | None:
        """Fetch and apply a full snapshot; its stream position, None if it failed or the IdP
        publishes no stream position (too old for the pushed channels)."""
        self.cursor, self.stream_seq = None, None
        return self.stream_seq if self.poll_once() else None

    @staticmethod
    def _cursor_rejected(status: int, body: bytes) -> bool:
        if status == 410:
            return True
        return status == 400 and b"invalid_cursor" in body

    def _accept(self, doc: Any) -> None:
        if not isinstance(doc, dict) or not isinstance(doc.get("cursor"), str):
            raise ValueError("revocation feed response has no cursor")
        if self.cursor is None and not doc.get("full"):
            # A delta without a base would leave entries we never saw: treat as snapshot.
            doc = {**doc, "full": True}
        self.state.apply(doc)
        self.state.mark_synced()
        self.cursor = doc["cursor"]
        if doc.get("full"):
            seq = doc.get("stream_seq")
            self.stream_seq = seq if isinstance(seq, int) and not isinstance(seq, bool) else None
        hint = doc.get("poll_interval")
        if isinstance(hint, int | float) and not isinstance(hint, bool):
            self.interval = min(max(float(hint), self.min_interval), self.max_interval)

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="tessera-revocations")
            self._thread.daemon = True
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            ok = self.poll_once()
            # Back off on failure so a down IdP is not hammered by every resource server.
            wait = self.interval if ok else min(self.interval * 2, self.max_interval)
            self._stop.wait(wait)
