#!/usr/bin/env bash
# Proof that the middleware needs nothing of the identity provider: build its wheel, install it
# with only its extras (and the test tools) into a fresh venv, and run middleware/tests there,
# from outside the repository so no source directory is importable.
# Usage: middleware/test-alone.sh [python3]   (extra pytest arguments in PYTEST_ARGS)
set -euo pipefail
python="${1:-python3}"
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

"$python" -m venv "$work/venv"
pip=("$work/venv/bin/python" -m pip --quiet --disable-pip-version-check)
# Built from a copy holding only middleware/: nothing else of the repository can slip in, and
# setuptools' build/ directory stays out of the checkout.
cp -r "$here" "$work/src"
rm -rf "$work/src/build" "$work/src"/*.egg-info
"${pip[@]}" wheel --no-deps --wheel-dir "$work/dist" "$work/src"
wheel="$(ls "$work"/dist/tessera_middleware-*.whl)"
"${pip[@]}" install "${wheel}[redis,flask,asgi,websockets,fastapi,test]"

cd "$work"
# The wheel, not a checkout, is what the tests import; and the IdP is not there at all.
"$work/venv/bin/python" - <<'PY'
import importlib.util, sys
import tessera_middleware
assert tessera_middleware.__file__.startswith(sys.prefix), tessera_middleware.__file__
missing = [m for m in ("idp", "portal", "sqlalchemy", "authlib", "limits") if importlib.util.find_spec(m)]
assert not missing, f"the fresh venv has {missing}"
print("tessera_middleware from", tessera_middleware.__file__)
PY
# shellcheck disable=SC2086  # PYTEST_ARGS is a list of words
"$work/venv/bin/pytest" -p no:cacheprovider -q "$here/tests" ${PYTEST_ARGS:-}
