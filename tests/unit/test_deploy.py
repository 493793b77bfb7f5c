"""deploy/: the nginx site template renders completely and nginx accepts it; pid files never
make `make stack-down` signal a process the stack did not start; a PostgreSQL that cannot be
reached stops `make stack` with one line saying what to check, not a traceback."""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from deploy import processes, services, stack
from deploy.nginx import PLACEHOLDER, TEMPLATE, Nginx, Site, make_certificate, nginx_binary
from idp.serving import HEADER_READ_TIMEOUT_MS

JSON_ROUTES = (
    ("POST", "/oauth/token"),
    ("POST", "/oauth/revoke"),
    ("POST", "/oauth/introspect"),
    ("POST", "/oauth/device_authorization"),
    ("GET", "/oauth/userinfo"),
    ("GET", "/oauth/revocations"),
    ("GET", "/api/v1/apps"),
)


def _site(folder: Path) -> Site:
    return Site(
        server_name="127.0.0.1",
        https_port=18443,
        http_port=18080,
        upstream_ports=(15101, 15102),
        certificate=folder / "cert.pem",
        certificate_key=folder / "key.pem",
        max_body=1048576,
        access_log=folder / "access.log",
    )


def test_every_placeholder_of_the_template_is_documented_in_its_header_and_filled(tmp_path):
    header, _, body = TEMPLATE.read_text().partition("\n\n")
    used = set(PLACEHOLDER.findall(body))
    documented = set(PLACEHOLDER.findall(header)) - {
        "placeholder"
    }  # "replace every {{ placeholder }}"
    assert used == documented  # the guide for a real host lists them all
    rendered = Nginx(tmp_path)
    rendered.write(_site(tmp_path))
    text = rendered.site_conf.read_text()
    assert "{{" not in text and "}}" not in text
    assert "server 127.0.0.1:15101 max_fails=2 fail_timeout=5s;" in text
    assert "client_max_body_size 1048576;" in text
    assert "return 301 https://127.0.0.1:18443$request_uri;" in text
    # a POST that reached an instance is never sent to another (a replayed refresh token)
    assert "non_idempotent" not in re.sub(r"#.*", "", text)


def test_nginx_accepts_the_rendered_configuration(tmp_path):
    if nginx_binary() is None:
        pytest.skip("nginx is not installed (`make nginx-deps`)")
    site = _site(tmp_path)
    make_certificate(site.certificate, site.certificate_key, site.server_name)
    nginx = Nginx(tmp_path)
    nginx.write(site)
    command = [nginx_binary(), "-t", "-q", "-p", str(tmp_path), "-c", str(nginx.conf)]
    checked = subprocess.run(command, capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr


def test_nginx_answers_its_own_errors_in_the_shape_the_caller_reads(tmp_path):
    """Every instance down (502) or a body over the limit (413): JSON on the machine
    endpoints, a page in a browser, 503 with Retry-After instead of nginx's 502 page."""
    if nginx_binary() is None:
        pytest.skip("nginx is not installed (`make nginx-deps`)")
    site = dataclasses.replace(
        _site(tmp_path),
        https_port=stack.free_port(),
        http_port=stack.free_port(),
        upstream_ports=(stack.free_port(), stack.free_port()),  # nothing listens: all down
        max_body=4096,
    )
    make_certificate(site.certificate, site.certificate_key, site.server_name)
    nginx = Nginx(tmp_path)
    nginx.write(site)
    nginx.start()
    http = requests.Session()
    http.trust_env = False  # the stack's CA bundle from the environment is not this one
    http.verify = str(site.certificate)
    origin = site.public_origin
    try:
        for method, path in JSON_ROUTES:
            answer = http.request(method, origin + path, data={"token": "t"}, timeout=10)
            assert answer.status_code == 503, (path, answer.text[:200])
            assert answer.json()["error"] == "temporarily_unavailable", path
            assert answer.headers["Retry-After"] == "5", path
            assert answer.headers["Cache-Control"] == "no-store", path
        for path in ("/", "/login", "/oauth/logout", "/oauth/authorize", "/device"):
            page = http.get(origin + path, timeout=10)
            assert page.status_code == 503 and page.headers["Retry-After"] == "5", path
            assert page.headers["Content-Type"].startswith("text/html"), path
            assert "Temporarily unavailable" in page.text, path
        too_big = http.post(origin + "/oauth/token", data={"pad": "x" * 5000}, timeout=10)
        assert too_big.status_code == 413
        assert too_big.json()["error"] == "invalid_request"
    finally:
        nginx.stop()
    logged = (tmp_path / "access.log").read_text()
    assert f"upstream=127.0.0.1:{site.upstream_ports[0]}" in logged or (
        f"upstream=127.0.0.1:{site.upstream_ports[1]}" in logged
    )


def test_a_pid_file_names_its_process_only_while_that_same_program_runs(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    record = tmp_path / "child.pidrec"
    try:
        processes.record(record, child.pid)
        assert processes.recorded(record) == child.pid
        stale = tmp_path / "stale.pidrec"  # the pid, reused by a process started later
        entry = json.loads(record.read_text())
        stale.write_text(json.dumps({**entry, "started": entry["started"] - 1}))
        assert processes.recorded(stale) is None
        assert processes.stop_recorded(stale, group=False) is None
        assert child.poll() is None  # left alone
        assert processes.stop_recorded(record, group=False) == child.pid
        assert child.wait(timeout=5) is not None and not record.exists()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_no_pid_file_means_nothing_is_stopped(tmp_path):
    assert processes.stop_recorded(tmp_path / "missing.pidrec", group=True) is None


def _unreachable_postgres() -> tuple[str, int]:
    port = stack.free_port()  # handed out and released: nothing listens there
    return f"postgresql+psycopg://postgres@127.0.0.1:{port}/tessera_stack", port


def test_an_unreachable_postgresql_is_one_line_naming_the_server_and_the_check_to_run():
    url, port = _unreachable_postgres()
    with pytest.raises(RuntimeError) as raised:
        services.ensure_database(url)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"PostgreSQL at 127.0.0.1:{port} as postgres: ")
    assert f"psql -h 127.0.0.1 -p {port} -U postgres" in message


def test_make_stack_stops_on_a_postgresql_error_with_one_line_and_no_traceback(
    tmp_path, monkeypatch, capsys
):
    url, port = _unreachable_postgres()
    config = functools.partial(stack.StackConfig, folder=tmp_path / "stack", database_url=url)
    monkeypatch.setattr(stack, "StackConfig", config)
    monkeypatch.setattr(stack, "nginx_binary", lambda: "/usr/sbin/nginx")
    monkeypatch.setattr(services, "ensure_running", lambda folder: [])  # not the machine's
    assert stack.main(["start", "--no-seed"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"make stack failed: PostgreSQL at 127.0.0.1:{port} as postgres: ")
    assert not any((tmp_path / "stack").glob("*.pidrec"))  # nothing was started


def _sleeper() -> subprocess.Popen:
    """A child process playing a server (the machine's PostgreSQL and Redis are never touched)."""
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def test_stack_down_leaves_services_that_were_already_running(tmp_path, monkeypatch):
    monkeypatch.setattr(services, "_postgres_up", lambda: True)
    monkeypatch.setattr(services, "_redis_up", lambda: True)
    monkeypatch.setattr(services, "_start_postgres", None)  # must not be called
    monkeypatch.setattr(services, "_start_redis", None)
    assert services.ensure_running(tmp_path) == []
    assert list(tmp_path.iterdir()) == []
    commands: list[list[str]] = []
    assert services.stop_started(tmp_path, run=lambda cmd, **kw: commands.append(cmd)) == []
    assert commands == []


def test_stack_down_stops_exactly_the_services_make_stack_started(tmp_path, monkeypatch):
    postmaster, redis_server = _sleeper(), _sleeper()
    try:
        monkeypatch.setattr(services, "_postgres_up", lambda: False)
        monkeypatch.setattr(services, "_redis_up", lambda: False)
        monkeypatch.setattr(services, "_start_postgres", lambda: ("15", "main"))
        monkeypatch.setattr(services, "_postmaster_pid", lambda cluster: postmaster.pid)
        monkeypatch.setattr(services, "_start_redis", lambda folder: redis_server.pid)
        assert services.ensure_running(tmp_path) == ["PostgreSQL", "Redis"]
        commands: list[list[str]] = []
        stopped = services.stop_started(tmp_path, run=lambda cmd, **kw: commands.append(cmd))
        assert stopped == ["PostgreSQL", "Redis"]
        assert commands == [["pg_ctlcluster", "--skip-systemctl-redirect", "15", "main", "stop"]]
        assert redis_server.wait(timeout=5) is not None  # stopped through its record
        assert list(tmp_path.iterdir()) == []  # records gone: a second stack-down stops nothing
        assert services.stop_started(tmp_path, run=lambda cmd, **kw: commands.append(cmd)) == []
        assert len(commands) == 1
    finally:
        for child in (postmaster, redis_server):
            if child.poll() is None:
                child.kill()
                child.wait()


def test_a_service_restarted_by_someone_else_is_not_stopped_by_stack_down(tmp_path):
    """The record names the process make stack started; a server started since is not it."""
    gone = _sleeper()
    processes.record(tmp_path / services.REDIS_RECORD, gone.pid)
    processes.record(tmp_path / services.POSTGRES_RECORD, gone.pid)
    (tmp_path / services.POSTGRES_CLUSTER).write_text("15 main\n")
    gone.kill()
    gone.wait()
    commands: list[list[str]] = []
    assert services.stop_started(tmp_path, run=lambda cmd, **kw: commands.append(cmd)) == []
    assert commands == [] and list(tmp_path.iterdir()) == []


def _upstream_pool_problems(conf: str) -> list[str]:
    """What is wrong with the upstream keep-alive pool a rendered site sets up, if it has one."""
    text = re.sub(r"#.*", "", conf)
    upstream = re.search(r"upstream tessera \{(.*?)\}", text, re.S).group(1)
    if not re.search(r"^\s*keepalive \d+;", upstream, re.M):
        return []
    problems = []
    timeout = re.search(r"^\s*keepalive_timeout (\d+)s;", upstream, re.M)
    if timeout is None or int(timeout.group(1)) * 1000 >= HEADER_READ_TIMEOUT_MS:
        problems.append("keepalive_timeout must be below Tessera's idle timeout")
    if "proxy_http_version 1.1;" not in text or 'proxy_set_header Connection "";' not in text:
        problems.append("a pooled upstream needs HTTP/1.1 without Connection: close")
    return problems


def test_an_upstream_keepalive_pool_always_drops_a_connection_before_tessera_does(tmp_path):
    """nginx reusing a connection Tessera is closing at its idle timeout fails a POST (502,
    never re-sent). The shipped site has no pool; the pool deploy/README.md describes is safe,
    and one with nginx's default 60 s timeout is not."""
    nginx = Nginx(tmp_path)
    nginx.write(_site(tmp_path))
    shipped = nginx.site_conf.read_text()
    assert _upstream_pool_problems(shipped) == []
    documented = shipped.replace(
        "upstream tessera {\n",
        "upstream tessera {\n    keepalive 16;\n    keepalive_timeout 4s;\n",
    ).replace(
        "proxy_connect_timeout",
        'proxy_http_version 1.1;\n    proxy_set_header Connection "";\n    proxy_connect_timeout',
    )
    assert documented != shipped and _upstream_pool_problems(documented) == []
    too_long = documented.replace("keepalive_timeout 4s;", "keepalive_timeout 60s;")
    assert _upstream_pool_problems(too_long) == [
        "keepalive_timeout must be below Tessera's idle timeout"
    ]
