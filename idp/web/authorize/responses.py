"""How the authorization endpoint answers a refusal, in one place.

A ``NeverRedirect`` refusal (the client or redirect URI not trusted yet) is an error page; any
other goes back to the app's redirect URI with ``error``, ``error_description``, ``state`` and
``iss`` (RFC 6749 4.1.2.1, RFC 9207), by 303 (RFC 9700 4.12). Authlib's own refusals (scope,
PKCE) are translated into the same model where Authlib is called.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749.errors import OAuth2Error
from flask import Response, redirect

from idp import errors
from idp.errors import OAuthError
from idp.web.authorize.pipeline import AuthorizationRequest, NeverRedirect
from idp.web.context import tessera
from idp.web.errors import render_error

log = logging.getLogger(__name__)

_BY_CODE = {
    cls.error: cls
    for cls in vars(errors).values()
    if isinstance(cls, type) and issubclass(cls, OAuthError) and cls is not OAuthError
}


@contextmanager
def authlib_refusals() -> Iterator[None]:
    """Authlib's OAuth2Error, raised again as the OAuthError with the same code."""
    try:
        yield
    except OAuth2Error as exc:
        refused = _BY_CODE.get(exc.error, OAuthError)(exc.get_error_description())
        refused.error = exc.error  # a code without a class of ours keeps its name
        raise refused from exc


def refusal(refused: OAuthError, request: AuthorizationRequest | None) -> Response:
    if refused.detail:
        log.info("authorization refused (%s): %s", refused.error, refused.detail)
    if isinstance(refused, NeverRedirect) or request is None or not request.redirect_uri:
        return render_error(400, refused.description)
    params = [("error", refused.error), ("error_description", refused.description)]
    if request.state:
        params.append(("state", request.state))
    params.append(("iss", tessera().settings.ISSUER))
    return redirect(add_params_to_uri(request.redirect_uri, params), code=303)
