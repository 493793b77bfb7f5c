"""`make demo`: Tessera, the market API and the WebSocket server together; Ctrl-C stops all.

Expects a migrated and seeded instance (the Makefile target runs `tessera db upgrade` and
`tessera seed-demo` first). Ports: DEMO_TESSERA_PORT (5000), DEMO_API_PORT (8000),
DEMO_WS_PORT (8765); Redis from DEMO_REDIS_URL (default redis://127.0.0.1:6379/0, used
only when it answers): the examples' rate limits and order events, and Tessera's
TESSERA_REDIS_URL unless set, so revocations reach the examples on its Redis stream (on its
Server-Sent Events without Redis).
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
STARTUP_SECONDS = 30


def _pump(name: str, proc: subprocess.Popen, lines: queue.Queue) -> None:
    for line in proc.stdout:  # type: ignore[union-attr]
        print(f"[{name}] {line}", end="", flush=True)
        lines.put((name, line))


def start(name: str, args: list[str], env: dict[str, str], procs: list) -> queue.Queue:
    proc = subprocess.Popen(  # noqa: S603 - our own fixed commands
        args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    procs.append((name, proc))
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_pump, args=(name, proc, lines), daemon=True).start()
    return lines


def wait_for_line(lines: queue.Queue, marker: str, proc: subprocess.Popen) -> str:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"a process exited during start-up (code {proc.returncode})")
        try:
            _name, line = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        if marker in line:
            return line.strip().rsplit(" ", 1)[-1]
    raise SystemExit(f"no {marker!r} within {STARTUP_SECONDS} s")


def wait_for_url(url: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"Tessera exited during start-up (code {proc.returncode})")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"Tessera did not answer {url} within {STARTUP_SECONDS} s")


def redis_url() -> str:
    url = os.environ.get("DEMO_REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        import redis

        redis.Redis.from_url(url, socket_timeout=1).ping()
    except Exception:
        print(
            f"Redis at {url} does not answer: limits are per process, no live order events, "
            "revocations over Server-Sent Events."
        )
        return ""
    return url


def stop_all(procs: list) -> None:
    for _name, proc in procs:
        if proc.poll() is None:
            proc.terminate()  # SIGTERM: granian and the examples all stop cleanly on it
    for _name, proc in procs:
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def instructions(issuer: str, api: str, ws: str, apps: dict) -> str:
    bot, trader = apps["bot"], apps["trader"]
    from examples.demo_clients import CALLBACK

    scope = "openid%20orders:read%20orders:write%20ws:connect%20offline_access"
    return f"""
================================================================================
Tessera {issuer}   market API {api}   WebSocket server {ws}

# A bot token (client_credentials, market:read ws:connect):
BOT_ID={bot["client_id"]}
BOT_SECRET={bot["client_secret"]}
TOKEN=$(curl -s -u "$BOT_ID:$BOT_SECRET" -d grant_type=client_credentials {issuer}/oauth/token \\
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
curl -i -H "Authorization: Bearer $TOKEN" {api}/market          # 200, RateLimit-* headers
curl -i -H "Authorization: Bearer $TOKEN" {api}/orders          # 403 insufficient_scope
curl -i {api}/market                                            # 401

# Live order events (in another terminal, same TOKEN):
TOKEN=$TOKEN .venv/bin/python -m examples.ws_server.client --url {ws} --channel orders

# A user's token to place orders (authorization code + PKCE), signed in as `demo`:
TRADER_ID={trader["client_id"]}
TRADER_SECRET={trader["client_secret"]}
VERIFIER=$(python3 -c "import secrets; print(secrets.token_urlsafe(48))")
CHALLENGE=$(python3 -c "import base64,hashlib,sys; print(base64.urlsafe_b64encode(hashlib.sha256(sys.argv[1].encode()).digest()).rstrip(b'=').decode())" "$VERIFIER")
echo "{issuer}/oauth/authorize?response_type=code&client_id=$TRADER_ID&redirect_uri={CALLBACK}&scope={scope}&state=s&code_challenge=$CHALLENGE&code_challenge_method=S256"
#   open it, sign in, Allow; copy code=... from the address bar (nothing listens there), then:
USER_TOKEN=$(curl -s -u "$TRADER_ID:$TRADER_SECRET" -d grant_type=authorization_code -d code="$CODE" \\
        -d redirect_uri={CALLBACK} -d code_verifier="$VERIFIER" {issuer}/oauth/token \\
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
curl -i -H "Authorization: Bearer $USER_TOKEN" -H "Content-Type: application/json" \\
     -d '{{"item": "Ruby Sword", "side": "sell", "price": "12.50", "quantity": 1}}' {api}/orders
curl -s -H "Authorization: Bearer $USER_TOKEN" {api}/orders

Ctrl-C stops everything.
================================================================================
"""


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    # Ctrl-C and `kill` both stop everything, even when started where SIGINT is ignored.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    tessera_port = os.environ.get("DEMO_TESSERA_PORT", "5000")
    issuer = f"http://127.0.0.1:{tessera_port}"
    env = {**os.environ, "TESSERA_ISSUER": issuer, "PYTHONUNBUFFERED": "1"}
    made = subprocess.run(
        [sys.executable, "-m", "examples.demo_clients"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if made.returncode != 0:
        raise SystemExit(f"could not create the demo apps:\n{made.stderr[-2000:]}")
    apps = json.loads(made.stdout.strip().splitlines()[-1])
    rs = apps["resource_server"]
    redis = redis_url()
    api_env = {
        **env,
        "API_CLIENT_ID": rs["client_id"],
        "API_CLIENT_SECRET": rs["client_secret"],
        "REDIS_URL": redis,
        "MARKET_NAMESPACE": "market-demo",
    }
    # With Redis, Tessera pushes revocations on its stream and the examples follow it; without,
    # they follow Tessera's Server-Sent Events.
    tessera_env = {"TESSERA_REDIS_URL": redis, **env} if redis else env
    if tessera_env.get("TESSERA_REDIS_URL") not in (None, "", redis):
        api_env["REVOCATIONS_REDIS_URL"] = tessera_env["TESSERA_REDIS_URL"]
    procs: list = []
    try:
        server = [str(BIN / "tessera"), "serve", "--host", "127.0.0.1", "--port", tessera_port]
        start("tessera", server, tessera_env, procs)
        wait_for_url(f"{issuer}/.well-known/openid-configuration", procs[0][1])
        api_lines = start(
            "api",
            [sys.executable, "-m", "examples.market_api"],
            {**api_env, "PORT": os.environ.get("DEMO_API_PORT", "8000")},
            procs,
        )
        api = wait_for_line(api_lines, "market-api listening on", procs[1][1])
        ws_lines = start(
            "ws",
            [sys.executable, "-m", "examples.ws_server"],
            {**api_env, "PORT": os.environ.get("DEMO_WS_PORT", "8765")},
            procs,
        )
        ws = wait_for_line(ws_lines, "ws-server listening on", procs[2][1])
        print(instructions(issuer, api, ws, apps), flush=True)
        while all(proc.poll() is None for _n, proc in procs):
            time.sleep(0.5)
        print("a process stopped; stopping the others")
    except KeyboardInterrupt:
        print("\nstopping")
    finally:
        stop_all(procs)


if __name__ == "__main__":
    main()
