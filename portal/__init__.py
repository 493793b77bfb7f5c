"""Developer portal (/developers), admin console (/admin) and the management API (/api/v1)."""

from __future__ import annotations

from typing import Any


def register_portal(app: Any) -> None:
    """Register the portal's blueprints on the Flask app (called from idp.app._register_web)."""
    from portal.admin.views import bp as admin_bp
    from portal.api.views import bp as api_bp
    from portal.developer.views import bp as developer_bp

    for blueprint in (developer_bp, api_bp, admin_bp):
        app.register_blueprint(blueprint)
