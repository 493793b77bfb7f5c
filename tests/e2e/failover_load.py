"""Load for the failover test: client_credentials loops and refresh-token chains, each request
timed, so the test can tell which ones were in flight when an instance died.

A chain behaves as a well-written client: it always sends the newest refresh token it holds,
and when a request fails in flight (nginx's 503 with Retry-After, JSON: the instance died after
it was sent; nginx turns its 502 into that) it
retries once with the same token, the only token it has. If the dead instance had committed
the rotation before dying, that retry is a reuse (docs/security.md#13): the server refuses it,
the chain is over, and it says which request was lost; otherwise the retry succeeds.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import select

from idp.domain.credentials import token_digest
from idp.extensions import db
from idp.storage.models import RefreshToken

# nginx: the upstream broke the connection after the request was sent (its 502, answered as a
# JSON 503 with Retry-After on /oauth/token: deploy/nginx/tessera.conf)
IN_FLIGHT_FAILURE = 503
NGINX_FAILED = ("502", "504")  # upstream_status of a request nginx could not get answered


@dataclass(frozen=True)
class Outcome:
    what: str
    started: float
    ended: float
    status: int  # 0: no HTTP answer at all (timeout, connection error)
    body: str = ""
    retry_after: str = ""

    def in_flight_at(self, low: float, high: float) -> bool:
        """Sent before `high` and still unanswered at `low`."""
        return self.started <= high and self.ended >= low


class Recorder:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.outcomes: list[Outcome] = []

    def post(self, http: requests.Session, what: str, url: str, **kwargs) -> Outcome:
        started = time.monotonic()
        try:
            response = http.post(url, timeout=15, **kwargs)
            status, body = response.status_code, response.text
            retry_after = response.headers.get("Retry-After", "")
        except requests.RequestException as exc:
            status, body, retry_after = 0, repr(exc), ""
        outcome = Outcome(what, started, time.monotonic(), status, body, retry_after)
        with self._lock:
            self.outcomes.append(outcome)
        return outcome

    def count_ok(self, since: float = 0.0) -> int:
        with self._lock:
            return sum(1 for o in self.outcomes if o.status == 200 and o.started >= since)

    def failures(self, retries: bool = False) -> list[Outcome]:
        """Failed first attempts; or, with `retries`, failed retries of a refresh."""
        with self._lock:
            return [
                o for o in self.outcomes if o.status != 200 and o.what.endswith(" retry") == retries
            ]


def client_credentials_loop(
    recorder: Recorder, issuer: str, credentials: tuple[str, str], stop: threading.Event
) -> None:
    http = requests.Session()
    while not stop.is_set():
        recorder.post(
            http,
            "client_credentials",
            issuer + "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=credentials,
        )


@dataclass
class RefreshChain:
    name: str
    tokens: list[str]  # every refresh token this client received, oldest first
    lost: str = ""  # why the chain ended early, if it did
    unexpected: list[Outcome] = field(default_factory=list)

    def _refresh(
        self, recorder: Recorder, http: requests.Session, url: str, auth, retry: bool = False
    ) -> Outcome:
        outcome = recorder.post(
            http,
            f"refresh {self.name}" + (" retry" if retry else ""),
            url,
            data={"grant_type": "refresh_token", "refresh_token": self.tokens[-1]},
            auth=auth,
        )
        if outcome.status == 200:
            self.tokens.append(json.loads(outcome.body)["refresh_token"])
        return outcome

    def run(
        self, recorder: Recorder, issuer: str, credentials: tuple[str, str], stop: threading.Event
    ) -> None:
        http, url = requests.Session(), issuer + "/oauth/token"
        while not stop.is_set() and not self.lost:
            first = self._refresh(recorder, http, url, credentials)
            if first.status == 200:
                continue
            if first.status != IN_FLIGHT_FAILURE:
                self.unexpected.append(first)
                return
            retry = self._refresh(recorder, http, url, credentials, retry=True)
            if retry.status == 200:
                continue
            self.lost = (
                f"token #{len(self.tokens) - 1} was sent at {first.started:.3f}, failed in flight "
                f"({first.status}); its retry got {retry.status} {retry.body[:120]}"
            )


class Load:
    """The load, as a context: one thread per refresh chain and `cc_threads` client_credentials
    loops, all through `issuer`, stopped and joined on exit."""

    def __init__(
        self,
        issuer: str,
        chains: list[RefreshChain],
        web: tuple[str, str],
        bot: tuple[str, str],
        cc_threads: int,
    ) -> None:
        self.recorder, self.stop = Recorder(), threading.Event()
        args = (self.recorder, issuer)
        self.threads = [
            threading.Thread(target=chain.run, args=(*args, web, self.stop)) for chain in chains
        ] + [
            threading.Thread(target=client_credentials_loop, args=(*args, bot, self.stop))
            for _ in range(cc_threads)
        ]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=20)


def token_requests(log: Path, offset: int) -> int:
    """Token requests in an instance's access log after `offset` bytes."""
    with log.open("rb") as fh:
        fh.seek(offset)
        return fh.read().count(b'"POST /oauth/token')


def failed_upstreams(nginx_log: Path) -> set[str]:
    """The instances nginx had sent each request it could not get answered (its 502 or 504,
    logged as the 503 it answered instead; the `tessera` log format)."""
    failed = set()
    for line in nginx_log.read_text().splitlines():
        if '" 503 ' not in line:
            continue
        statuses = line.split(" upstream_status=", 1)[1].split(" rt=", 1)[0]
        if statuses.split(", ")[-1] in NGINX_FAILED:
            failed.add(line.split(" upstream=", 1)[1].split()[0].rstrip(","))
    return failed


def check_chains_in_database(app: Any, chains: list[RefreshChain]) -> None:
    """Each family holds exactly the tokens its client received (one more if the answer of a
    committed rotation was lost in flight): none rotated twice, none rotated unseen."""
    with app.app_context():
        for chain in chains:
            first = db.session.scalars(
                select(RefreshToken).where(RefreshToken.digest == token_digest(chain.tokens[0]))
            ).one()
            family = db.session.scalars(
                select(RefreshToken).where(RefreshToken.family_id == first.family_id).order_by(RefreshToken.id)
            ).all()  # fmt: skip
            received = [token_digest(t) for t in chain.tokens]
            assert [row.digest for row in family[: len(received)]] == received, chain.name
            extra = len(family) - len(received)
            assert extra == (1 if chain.lost else 0), (chain.name, chain.lost, extra)
            assert all(row.rotated_at is not None for row in family[:-1]), chain.name
            if chain.lost:  # the retry was a reuse: the family is revoked (docs/security.md#13)
                assert all(row.revoked_at is not None for row in family), chain.name
            else:
                assert family[-1].rotated_at is None and family[-1].revoked_at is None, chain.name
        db.session.remove()
