"""The token request as the machine endpoints build it: Authlib's request, plus who sent it."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from werkzeug.datastructures import EnvironHeaders, MultiDict

from idp.services.context import Caller


class MachineOAuth2Request(OAuth2Request):
    """Authlib's request, built from the WSGI environ and a body parsed once."""

    headers: EnvironHeaders

    def __init__(self, uri: str, headers: EnvironHeaders, form: dict[str, str]) -> None:
        # OAuth2Request.__init__ minus its transport check (urlsplit and ipaddress on every
        # request, ~13 us in place), which MachineEndpoints makes once per scheme and host.
        # tests/unit/test_oauth_endpoints.py keeps these attributes in step with Authlib's.
        self.method = "POST"
        self.uri = uri
        self.headers = headers
        self._body = None
        self.payload = BasicOAuth2Payload(form)
        self.client = self.auth_method = self.user = None
        self.authorization_code = self.refresh_token = self.credential = None
        self._scope = None

    @property
    def args(self) -> MultiDict:
        return MultiDict()  # parameters in the URL are refused before this request exists

    @property
    def form(self) -> dict[str, str]:
        return self.payload.data

    @property
    def caller(self) -> Caller:
        """The client's address (after ProxyFix) and user agent, for the audit log."""
        environ = self.headers.environ
        return Caller(
            ip=environ.get("REMOTE_ADDR") or "", user_agent=environ.get("HTTP_USER_AGENT", "")
        )
