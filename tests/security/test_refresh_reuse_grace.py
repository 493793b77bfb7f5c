"""RFC 9700 4.14.2 / docs/security.md#13: no grace by default after a refresh-token rotation."""

from __future__ import annotations

from idp.config import load_settings


def test_rfc9700_4_14_2_reuse_grace_defaults_to_zero(tmp_path):
    settings = load_settings({"INSTANCE_PATH": str(tmp_path)}, environ={})
    assert settings.REFRESH_TOKEN_REUSE_GRACE == 0


def test_rfc9700_4_14_2_immediate_reuse_revokes_the_family_by_default(flow, web_app):
    """A thief replaying the old token right after the rotation must not keep the family alive."""
    first = flow.tokens(web_app, scope="openid offline_access")["refresh_token"]
    second = flow.refresh(web_app, first).get_json()["refresh_token"]
    reuse = flow.refresh(web_app, first)
    assert reuse.status_code == 400
    assert "family is revoked" in reuse.get_json()["error_description"]
    assert flow.refresh(web_app, second).get_json()["error"] == "invalid_grant"
