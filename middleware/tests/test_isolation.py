"""tessera_middleware must load in a resource server with none of the IdP's dependencies."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "tessera_middleware"

SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec
    import tessera_middleware as mw
    from tessera_middleware.http import HttpResponse

    key = ec.generate_private_key(ec.SECP256R1())
    jwk = {**json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key())), "kid": "k"}
    docs = {
        "https://id.test/.well-known/openid-configuration":
            {"issuer": "https://id.test", "jwks_uri": "https://id.test/jwks"},
        "https://id.test/jwks": {"keys": [jwk]},
    }
    fetch = lambda url, headers: HttpResponse(200, json.dumps(docs[url]).encode())
    state = mw.RevocationState(max_staleness=None)
    verifier = mw.TokenVerifier("https://id.test", "api", http=fetch, revocations=state)
    now = int(time.time())
    claims = {"iss": "https://id.test", "aud": "api", "sub": "u", "client_id": "c",
              "jti": "j", "iat": now, "exp": now + 60, "scope": "orders:read"}
    token = jwt.encode(claims, key, "ES256", headers={"typ": "at+jwt", "kid": "k"})
    mw.require_scopes(verifier.verify(token), "orders:read")
    print(json.dumps(sorted(sys.modules)))
    """
)

FORBIDDEN_TOP = {"flask", "flask_sqlalchemy", "sqlalchemy", "authlib", "limits", "redis"}
FORBIDDEN_TOP |= {"starlette", "websockets", "werkzeug", "idp", "portal"}


def test_middleware_imports_nothing_from_the_idp(tmp_path: Path) -> None:
    # From an empty directory: the installed package is imported, never a checkout beside it.
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    modules = set(json.loads(out.stdout))
    assert "tessera_middleware.verifier" in modules
    assert not {m for m in modules if m.split(".")[0] in FORBIDDEN_TOP}


def test_middleware_sources_import_nothing_of_the_idp() -> None:
    sources = sorted(PACKAGE.glob("*.py"))
    assert len(sources) > 10
    for path in sources:
        for line in path.read_text().splitlines():
            words = line.split()
            assert not (
                words[:1] in (["import"], ["from"]) and words[1].split(".")[0] in ("idp", "portal")
            ), f"{path.name}: {line.strip()}"
