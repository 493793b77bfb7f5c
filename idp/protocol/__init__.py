"""The Authlib integration: the authorization server, one module per grant, the machine endpoints.

It calls services and holds no policy. ``CodeContext`` is what the authorize view hands to
``TesseraAuthorizationServer.issue_code``.
"""

from idp.services.token_issuance import CodeContext

__all__ = ["CodeContext"]
