"""Developer portal (/developers), admin console (/admin) and the management API (/api/v1)."""

from __future__ import annotations

from typing import Any


def register_portal(app: Any) -> None:
    """Register the portal's blueprints on the Flask app (called from idp.app._register_web)."""
    # The view modules add their routes to their blueprint when imported.
    from portal.admin import views, views_apps, views_users  # noqa: F401
    from portal.admin.blueprint import bp as admin_bp
    from portal.api import views_collab  # noqa: F401
    from portal.api.views import bp as api_bp
    from portal.developer import views as developer_views  # noqa: F401
    from portal.developer import (  # noqa: F401
        views_access,
        views_connect,
        views_debugger,
        views_tokens,
    )
    from portal.developer.blueprint import bp as developer_bp

    for blueprint in (developer_bp, api_bp, admin_bp):
        app.register_blueprint(blueprint)
