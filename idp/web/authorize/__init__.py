"""The authorization endpoint: the checks (pipeline), the views, the consent page, the refusals."""

from idp.web.authorize.views import bp

__all__ = ["bp"]
