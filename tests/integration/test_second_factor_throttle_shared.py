"""Wrong second-factor codes count once for every worker when TESSERA_REDIS_URL is set
(docs/security.md#31): two `create_app` instances stand for two workers."""

from __future__ import annotations

from tests.conftest import AuthActions, csrf_token
from tests.security.mfa_helpers import enrol_totp, user_id_of


def _wrong_code(actions: AuthActions) -> int:
    client = actions.client
    token = csrf_token(client, "/login/second-factor")
    return client.post(
        "/login/second-factor", data={"code": "000000", "csrf_token": token}
    ).status_code


def test_wrong_second_factor_codes_on_two_workers_count_once(make_app, user, redis_url, issuer):
    apps = [make_app(REDIS_URL=redis_url, ISSUER=issuer) for _ in range(2)]
    enrol_totp(apps[0], user_id_of(apps[0]))
    both = [AuthActions(app.test_client()) for app in apps]
    for worker in both:
        assert worker.login().headers["Location"].endswith("/login/second-factor")
    statuses = [_wrong_code(both[attempt % 2]) for attempt in range(5)]
    assert statuses == [401] * 5
    for worker in both:  # the 6th is refused on either worker
        assert _wrong_code(worker) == 429
