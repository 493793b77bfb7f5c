"""The feed's client_cutoffs (issue 12 item 8): after an app is unsuspended, its tokens issued
before the cut-off stay revoked in the middleware, and the entry goes once they have expired."""

from __future__ import annotations

import time

import pytest
from tessera_middleware import InvalidToken, RevocationState, TokenVerifier
from tessera_middleware.revocation_events import delta
from tessera_middleware.testing import AUDIENCE, ISSUER, FakeIdP, Signer

NOW = int(time.time())
CUT = {"client_id": "app-1", "issued_before": NOW, "until": NOW + 900}


@pytest.fixture
def state() -> RevocationState:
    return RevocationState(max_staleness=None)


@pytest.fixture
def verifier(es256: Signer, idp: FakeIdP, state: RevocationState) -> TokenVerifier:
    return TokenVerifier(ISSUER, AUDIENCE, http=idp, revocations=state)


def test_issue12_8_tokens_before_the_cut_off_stay_revoked_after_restoration(
    es256: Signer, verifier: TokenVerifier, state: RevocationState
) -> None:
    old, new = es256.token(iat=NOW - 60), es256.token(iat=NOW)
    other_app = es256.token(iat=NOW - 60, client_id="app-2")
    state.apply({"full": False, "suspended_clients": ["app-1"]})
    with pytest.raises(InvalidToken, match="suspended"):
        verifier.verify(old)
    state.apply({"full": False, "restored_clients": ["app-1"], "client_cutoffs": [CUT]})
    with pytest.raises(InvalidToken, match="revoked when its app was suspended"):
        verifier.verify(old)
    assert verifier.verify(new).client_id == "app-1"
    assert verifier.verify(other_app).client_id == "app-2"


def test_issue12_8_a_snapshot_replaces_and_a_delta_keeps_the_later_cut_off(
    state: RevocationState,
) -> None:
    state.apply({"full": True, "client_cutoffs": [CUT]})
    earlier = {**CUT, "issued_before": NOW - 100, "until": NOW + 10}
    state.apply({"full": False, "client_cutoffs": [earlier]})
    [kept] = state.snapshot()["client_cutoffs"]
    assert kept == {"client_id": "app-1", "issued_before": NOW, "until": NOW + 900}
    state.apply({"full": True, "client_cutoffs": []})
    assert state.snapshot()["client_cutoffs"] == [] and len(state) == 0


def test_issue12_8_a_cut_off_is_pruned_once_every_token_before_it_has_expired() -> None:
    clock = [float(NOW)]
    state = RevocationState(max_staleness=None, clock=lambda: clock[0])
    state.apply({"full": True, "client_cutoffs": [CUT]})
    assert len(state) == 1
    clock[0] = NOW + 901
    state.prune()
    assert len(state) == 0


@pytest.mark.parametrize(
    "entry",
    ["app-1", {"client_id": 7, "issued_before": NOW}, {"client_id": "a", "issued_before": "x"},
     {"client_id": "a", "issued_before": True}],
)  # fmt: skip
def test_issue12_8_malformed_cut_offs_are_ignored(state: RevocationState, entry) -> None:
    state.apply({"full": True, "client_cutoffs": [entry, CUT]})
    assert [c["client_id"] for c in state.snapshot()["client_cutoffs"]] == ["app-1"]


def test_issue12_8_a_cut_off_without_until_is_kept_when_pushed_as_an_event(
    state: RevocationState,
) -> None:
    # A stream or SSE event with "until": null (docs/revocation-events.md) keeps the cut-off
    # until a snapshot says otherwise.
    event = {"v": 1, "seq": 3, "type": "client_cutoff", "subject": "a", "at": NOW, "until": None}
    state.apply(delta(event))
    assert state.snapshot()["client_cutoffs"] == [
        {"client_id": "a", "issued_before": NOW, "until": float("inf")}
    ]
