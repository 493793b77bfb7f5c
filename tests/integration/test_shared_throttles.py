"""Issue 11 part 3: failure throttles count once for every worker and instance when
TESSERA_REDIS_URL is set (docs/security.md#20), per process without it, and per process again,
logged once a minute, while Redis is unreachable. Two `create_app` instances in one process
stand for two workers: without Redis each has its own memory counters.
"""

from __future__ import annotations

import logging
import time

import pytest
import redis
import requests

from idp.storage import redis_state
from idp.storage.redis_state import SharedRedis
from idp.storage.throttle import LoginThrottle, RegistrationThrottle, UserCodeThrottle
from tests.conftest import CHEAP_ARGON2, CSRF_RE, PASSWORD, TEST_SECRET, AuthActions, csrf_token
from tests.integration.redis_servers import (
    CLOSED_PORT_URL,
    TesseraServe,
    ThrowawayRedis,
    wait_until,
)

WRONG = "wrong password!"
LIMITS = {"LOGIN_ACCOUNT_LIMIT": "5/minute", "LOGIN_IP_LIMIT": "100/minute"}
UNREACHABLE = "is unreachable"


def workers(make_app, count: int = 2, **settings) -> list[AuthActions]:
    return [AuthActions(make_app(**LIMITS, **settings).test_client()) for _ in range(count)]


def change_password(actions: AuthActions, current: str):
    token = csrf_token(actions.client, "/account")
    return actions.client.post(
        "/account/password",
        data={"current_password": current, "new_password": "a long new passphrase", "csrf_token": token},
    )  # fmt: skip


def unreachable_logs(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r for r in caplog.records if r.name == redis_state.__name__ and UNREACHABLE in r.message
    ]


def test_login_failures_on_two_workers_count_once(make_app, user, redis_url, issuer):
    both = workers(make_app, REDIS_URL=redis_url, ISSUER=issuer)
    for attempt in range(5):
        assert both[attempt % 2].login(password=WRONG).status_code == 401
    for worker in both:  # the 6th is refused on either, even with the right password
        blocked = worker.login()
        assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0


def test_password_change_guesses_on_two_workers_count_once(make_app, user, redis_url, issuer):
    both = workers(make_app, REDIS_URL=redis_url, ISSUER=issuer)
    for worker in both:
        assert worker.login().status_code == 303
    for attempt in range(5):
        assert change_password(both[attempt % 2], WRONG).status_code == 400
    for worker in both:
        assert change_password(worker, PASSWORD).status_code == 429


def test_without_redis_each_worker_counts_alone(make_app, user):
    """The documented limit of a deployment without Redis: N workers allow N times the budget."""
    first, second = workers(make_app)
    for _ in range(5):
        assert first.login(password=WRONG).status_code == 401
    assert first.login().status_code == 429
    assert second.login().status_code == 303


def test_every_throttle_shares_its_counts_across_processes(redis_url, issuer):
    """Registration per IP, device-code guesses per account and per IP, logins per IP: each
    counted once for two processes (two SharedRedis links, as two workers have)."""
    one, two = SharedRedis(redis_url, issuer), SharedRedis(redis_url, issuer)
    cases = [
        (RegistrationThrottle(one, "4/hour"), RegistrationThrottle(two, "4/hour"), 4,
         lambda t: t.record("198.51.100.7"), lambda t: t.retry_after("198.51.100.7")),
        (UserCodeThrottle(one), UserCodeThrottle(two), 5,  # USER_CODE_ACCOUNT_LIMIT
         lambda t: t.record_failure("user-1", "198.51.100.8"),
         lambda t: t.retry_after("user-1", "198.51.100.9")),  # per account: any IP waits
        (UserCodeThrottle(one, ip_limit="4/minute"), UserCodeThrottle(two, ip_limit="4/minute"), 4,
         lambda t: t.record_failure("user-2", "198.51.100.10"),
         lambda t: t.retry_after("user-3", "198.51.100.10")),  # per IP: any account waits
        (LoginThrottle(one, "100/minute", "4/minute"), LoginThrottle(two, "100/minute", "4/minute"),
         4, lambda t: t.record_failure("someone", "198.51.100.11"),
         lambda t: t.retry_after("anyone-else", "198.51.100.11")),
    ]  # fmt: skip
    for first, second, limit, fail, wait in cases:
        for attempt in range(limit):
            assert wait(first) == wait(second) == 0
            fail(first if attempt % 2 else second)
        assert wait(first) > 0 and wait(second) > 0


def test_counters_are_this_deployments_own(redis_url, issuer):
    """Keys sit under a prefix derived from the issuer: another deployment (or another program
    using `limits`, whose default prefix is LIMITS) on the same Redis never shares a count."""
    ours = LoginThrottle(SharedRedis(redis_url, issuer), "1/minute", "100/minute")
    other_issuer = issuer + "-other"
    theirs = LoginThrottle(SharedRedis(redis_url, other_issuer), "1/minute", "100/minute")
    ours.record_failure("trader", "192.0.2.1")
    assert ours.retry_after("trader", "192.0.2.2") > 0
    assert theirs.retry_after("trader", "192.0.2.2") == 0
    keys = redis.Redis.from_url(redis_url).keys(redis_state.deployment_prefix(issuer) + ":*")
    assert keys and all(k.startswith(b"tessera:") and b"/login/" in k for k in keys)


def test_redis_down_login_still_throttled_per_process(make_app, user, issuer, caplog):
    caplog.set_level(logging.INFO)
    (worker,) = workers(make_app, 1, REDIS_URL=CLOSED_PORT_URL, ISSUER=issuer)
    for _ in range(5):
        assert worker.login(password=WRONG).status_code == 401
    assert worker.login().status_code == 429
    assert worker.register("newcomer", "newcomer@example.com").status_code == 303  # no 500
    assert len(unreachable_logs(caplog)) == 1  # once a minute, not once a request


class HungRedis:
    """Accepts connections and never answers: the worst outage, a Redis that hangs."""

    def __init__(self) -> None:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)  # the kernel completes handshakes; nobody ever reads
        self.url = f"redis://127.0.0.1:{self.sock.getsockname()[1]}/0"


def test_hung_redis_costs_one_timeout_then_is_skipped(issuer):
    hung = HungRedis()
    try:
        throttle = LoginThrottle(SharedRedis(hung.url, issuer), "5/minute", "100/minute")
        started = time.monotonic()
        assert throttle.retry_after("trader", "192.0.2.1") == 0
        first = time.monotonic() - started
        started = time.monotonic()
        for _ in range(20):
            throttle.record_failure("trader", "192.0.2.1")
            throttle.retry_after("trader", "192.0.2.1")
        rest = time.monotonic() - started
    finally:
        hung.sock.close()
    assert first >= redis_state.READ_TIMEOUT  # it did try Redis, and gave up in bounded time
    assert first < 4 * (redis_state.CONNECT_TIMEOUT + redis_state.READ_TIMEOUT)
    assert rest < redis_state.READ_TIMEOUT  # 40 calls within the back-off: not one waited
    assert throttle.retry_after("trader", "192.0.2.1") > 0  # and memory kept counting


def test_redis_going_away_mid_run(make_app, user, issuer, throwaway_redis, caplog, monkeypatch):
    caplog.set_level(logging.INFO)
    monkeypatch.setattr(redis_state, "BACKOFF", 0.2)
    server: ThrowawayRedis = throwaway_redis.start()
    (worker,) = workers(make_app, 1, REDIS_URL=server.url, ISSUER=issuer)
    for _ in range(3):
        assert worker.login(password=WRONG).status_code == 401
    assert redis.Redis.from_url(server.url).keys("tessera:*:limits:*/login/*")  # counted there
    server.stop()
    for _ in range(2):
        assert worker.login(password=WRONG).status_code == 401  # no 500
    assert worker.login().status_code == 429  # this process counted all five
    assert len(unreachable_logs(caplog)) == 1
    server.start()  # back, and empty (no persistence)
    shared = worker.client.application.extensions["tessera"].redis
    wait_until(shared.available, 5, "the back-off over")
    assert worker.login().status_code == 429  # an empty Redis does not reopen the door
    assert any("reachable again" in r.message for r in caplog.records)


def test_ten_wrong_passwords_against_two_served_workers(
    make_app, user, migrated_database, redis_url, issuer, tmp_path
):
    """The reported bug: 10 wrong passwords on `tessera serve` with 2 workers passed a
    5-per-minute limit. Each attempt opens new connections, so both workers take some."""
    server = TesseraServe(
        tmp_path / "serve.log", workers=2, DATABASE_URL=migrated_database, SECRET_KEY=TEST_SECRET,
        INSTANCE_PATH=tmp_path / "instance", REDIS_URL=redis_url, ISSUER=issuer,
        **CHEAP_ARGON2, **LIMITS,
    )  # fmt: skip
    try:
        server.wait_ready()
        answers = [served_login(server, WRONG) for _ in range(10)]
    finally:
        server.stop()
    assert answers == [401] * 5 + [429] * 5


def served_login(server: TesseraServe, password: str) -> int:
    with requests.Session() as browser:
        browser.headers["Connection"] = "close"
        page = browser.get(server.url + "/login", timeout=5)
        token = CSRF_RE.search(page.text).group(1)
        form = {"login": "trader", "password": password, "csrf_token": token}
        return browser.post(server.url + "/login", data=form, timeout=5).status_code
