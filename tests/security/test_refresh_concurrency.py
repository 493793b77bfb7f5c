"""docs/security.md#13: two concurrent refreshes with one token, exactly one wins (both databases)."""

from __future__ import annotations

import threading

from tests.security.conftest import Flow

ROUNDS = 8


def test_checklist_13_concurrent_refresh_exactly_one_wins(make_app_client_flow):
    # With the default grace of 0 the loser of a race revokes the family (RFC 9700 4.14.2):
    # this is a deployment that chose a grace for clients that refresh concurrently.
    flow, app, web_app = make_app_client_flow(REFRESH_TOKEN_REUSE_GRACE=2)
    refresh = flow.tokens(web_app, scope="openid offline_access")["refresh_token"]
    for _ in range(ROUNDS):
        barrier = threading.Barrier(2)
        results: list = [None, None]

        def redeem(slot: int, token: str = refresh, barrier=barrier, results=results) -> None:
            own = Flow(app.test_client())  # a separate client: its own app context and DB session
            barrier.wait(timeout=10)
            results[slot] = own.refresh(web_app, token)

        threads = [threading.Thread(target=redeem, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        statuses = sorted(r.status_code for r in results)
        assert statuses == [200, 400], [r.get_json() for r in results]
        winner = next(r for r in results if r.status_code == 200).get_json()
        loser = next(r for r in results if r.status_code == 400).get_json()
        assert loser["error"] == "invalid_grant"
        refresh = winner["refresh_token"]
    # The last winner's token still works: the race revoked nothing.
    assert flow.refresh(web_app, refresh).status_code == 200
