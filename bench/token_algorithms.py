"""Sign and verify cost of RS256, ES256 and EdDSA for a Tessera-shaped access token.

Run: .venv/bin/python bench/token_algorithms.py  (prints µs per operation and ratios to RS256).
The default access token algorithm (TESSERA_ACCESS_TOKEN_ALG) was chosen with these numbers.
"""

from __future__ import annotations

import time
import timeit

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

CLAIMS = {
    "iss": "https://id.example.com",
    "sub": "0d590ae0fb897ec92f4e71412f56a81c",
    "aud": "https://id.example.com/api",
    "client_id": "c9WlLuXpTJRxyvYbhQ628h9m",
    "scope": "openid profile orders:read",
    "iat": int(time.time()),
    "nbf": int(time.time()),
    "exp": int(time.time()) + 600,
    "jti": "4b75e6d895a582cfef7fb5aefc9c70ee",
    "gid": "9f1c2a7b3e5d4c6a8b0e1f2a3b4c5d6e",
    "tier": {"name": "default", "rps": 3, "burst": 10},
}
HEADER = {"typ": "at+jwt", "kid": "k"}
KEYS = {
    "RS256": rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "ES256": ec.generate_private_key(ec.SECP256R1()),
    "EdDSA": ed25519.Ed25519PrivateKey.generate(),
}


def per_op_us(fn, number: int) -> float:
    best = min(timeit.repeat(fn, number=number, repeat=5))
    return best / number * 1e6


def main() -> None:
    rows = []
    for alg, key in KEYS.items():
        public = key.public_key()
        token = jwt.encode(CLAIMS, key, algorithm=alg, headers=HEADER)
        sign = per_op_us(
            lambda k=key, a=alg: jwt.encode(CLAIMS, k, algorithm=a, headers=HEADER), 200
        )
        verify = per_op_us(
            lambda t=token, p=public, a=alg: jwt.decode(
                t, p, algorithms=[a], audience=CLAIMS["aud"]
            ),
            500,
        )
        rows.append((alg, sign, verify, len(token)))
    base_sign, base_verify = rows[0][1], rows[0][2]
    print(
        f"{'alg':<7}{'sign µs':>10}{'verify µs':>11}{'sign/RS256':>12}{'verify/RS256':>14}{'token bytes':>13}"
    )
    for alg, sign, verify, size in rows:
        print(
            f"{alg:<7}{sign:>10.1f}{verify:>11.1f}{sign / base_sign:>12.2f}{verify / base_verify:>14.2f}{size:>13}"
        )


if __name__ == "__main__":
    main()
