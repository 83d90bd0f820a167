"""docker-compose.yml and the Dockerfile agree with the settings and the repository.

Docker is not available where the tests run: the compose file is parsed and
checked against Settings, the CLI and the files it mounts, and the worker's
health check command is run for real against a PostgreSQL database.
"""

from __future__ import annotations

import inspect
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from monitor.cli import app
from monitor.config import Settings
from monitor.migrations import upgrade
from monitor.store import Store
from tests.conftest import ROOT, free_port

COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
_VARIABLE = re.compile(r"\$\{(\w+)(?::?([-?])([^}]*))?\}")
# What .env holds for these tests (``make .env`` writes a random password).
DOT_ENV = {"MONITOR_DB_PASSWORD": "from-dot-env"}


def _substitute(found: re.Match[str]) -> str:
    name, kind, text = found.groups()
    if kind == "?":  # required: compose refuses to start without it
        return DOT_ENV[name]
    return text or ""


def _interpolate(value: Any) -> Any:
    """What compose makes of ``${NAME:-default}`` with NAME unset, and of
    ``${NAME:?message}`` with NAME in .env."""
    if isinstance(value, str):
        return _VARIABLE.sub(_substitute, value)
    if isinstance(value, dict):
        return {k: _interpolate(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v) for v in value]
    return value


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return _interpolate(document)  # type: ignore[no-any-return]


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):  # the `- NAME=value` form
        env = dict(item.split("=", 1) for item in env)
    return {name: "" if value is None else str(value) for name, value in env.items()}


def _mounts(service: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Container path -> (source, options) of each short-form volume."""
    out = {}
    for volume in service.get("volumes", []):
        source, target, *options = volume.split(":")
        out[target] = (source, ",".join(options))
    return out


def _command(test: list[str]) -> list[str]:
    kind, *rest = test
    assert kind in ("CMD", "CMD-SHELL")
    return shlex.split(rest[0]) if kind == "CMD-SHELL" else rest


def test_the_services_are_there(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", "worker", "mailpit", "digests"}
    assert re.fullmatch(r"postgres:1[56]\.\d+", services["postgres"]["image"])
    assert services["mailpit"]["image"].split(":")[0] == "axllent/mailpit"
    assert "8025:8025" in services["mailpit"]["ports"]
    assert services["worker"]["build"] in (".", {"context": "."})
    assert services["worker"]["deploy"]["replicas"] == 3


def test_every_image_is_pinned_to_a_version(compose: dict[str, Any]) -> None:
    """The same file runs the same containers next year."""
    images = {name: s["image"] for name, s in compose["services"].items() if "image" in s}
    assert set(images) == {"postgres", "mailpit", "digests"}
    for name, image in images.items():
        _, _, tag = image.partition(":")
        assert re.fullmatch(r"v?\d+\.\d+(\.\d+)?(-[a-z]+)?", tag), f"{name}: {image}"


def test_the_database_password_comes_from_the_env_file_only() -> None:
    """No default in the file: compose refuses to start without .env, and
    ``make .env`` writes one with a random password, readable by its owner only."""
    text = COMPOSE.read_text(encoding="utf-8")
    uses = re.findall(r"\$\{MONITOR_DB_PASSWORD([^}]*)\}", text)
    assert len(uses) == 2 and all(use.startswith(":?") for use in uses), uses
    assert "POSTGRES_PASSWORD: monitor" not in text


def test_make_writes_the_env_file_once(tmp_path: Path) -> None:
    make = ["make", "--no-print-directory", "-C", str(tmp_path), "-f", str(ROOT / "Makefile")]
    made = subprocess.run([*make, ".env"], capture_output=True, text=True, check=True)
    first = (tmp_path / ".env").read_text(encoding="utf-8")
    [password] = re.findall(r"^MONITOR_DB_PASSWORD=(\S{24,})$", first, re.M)
    assert "wrote .env" in made.stdout and (tmp_path / ".env").stat().st_mode & 0o077 == 0
    subprocess.run([*make, ".env"], capture_output=True, check=True)
    assert (tmp_path / ".env").read_text(encoding="utf-8") == first  # never overwritten
    assert password != "monitor"


def test_the_digests_are_served_read_only_from_the_workers_volume(
    compose: dict[str, Any],
) -> None:
    web, worker = compose["services"]["digests"], compose["services"]["worker"]
    [(root, (volume, options))] = _mounts(web).items()
    written, _ = _mounts(worker)[_environment(worker)["MONITOR_OUTPUT_DIR"]]
    assert volume == written and volume in compose["volumes"]
    assert "ro" in options.split(",")
    command = web["command"]
    assert command[:2] == ["caddy", "file-server"] and "--browse" in command
    assert command[command.index("--root") + 1] == root
    listen = command[command.index("--listen") + 1].lstrip(":")
    assert f"{listen}:{listen}" in web["ports"]


def test_the_watchlists_notify_variables_reach_the_worker(compose: dict[str, Any]) -> None:
    """Those of the watchlists here and of the README's example."""
    named = {
        found
        for path in [*(ROOT / "watchlists").glob("*.yaml"), ROOT / "README.md"]
        for found in re.findall(r"env:(MONITOR_\w+)", path.read_text(encoding="utf-8"))
    }
    assert named, "the README's example names a notify variable"
    env = _environment(compose["services"]["worker"])
    assert named <= set(env), named - set(env)


def test_postgres_has_a_health_check_and_keeps_its_data(compose: dict[str, Any]) -> None:
    postgres = compose["services"]["postgres"]
    check = _command(postgres["healthcheck"]["test"])
    env = _environment(postgres)
    assert check[0] == "pg_isready"
    assert check[check.index("-U") + 1] == env["POSTGRES_USER"]
    assert check[check.index("-d") + 1] == env["POSTGRES_DB"]
    [(source, _)] = [m for t, m in _mounts(postgres).items() if t == "/var/lib/postgresql/data"]
    assert source in compose["volumes"]  # a named volume, not the container's layer


def test_the_worker_waits_for_a_healthy_postgres(compose: dict[str, Any]) -> None:
    depends = compose["services"]["worker"]["depends_on"]
    assert depends["postgres"] == {"condition": "service_healthy"}


def test_every_monitor_variable_is_a_setting_and_valid(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _environment(compose["services"]["worker"])
    names = [name for name in env if name.startswith("MONITOR_")]
    assert names and names == list(env)  # nothing else is set on the worker
    settings = [n for n in names if not n.startswith("MONITOR_NOTIFY_")]  # notify URLs
    unknown = [
        n for n in settings if n.removeprefix("MONITOR_").lower() not in Settings.model_fields
    ]
    assert unknown == []
    for name in [n for n in os.environ if n.startswith("MONITOR_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.allowed_hosts == frozenset()  # the guard lets nothing internal through
    assert settings.smtp_url == "smtp://mailpit:1025"


def test_the_database_url_is_postgres_with_psycopg(compose: dict[str, Any]) -> None:
    env = _environment(compose["services"]["worker"])
    postgres = _environment(compose["services"]["postgres"])
    url = urlsplit(env["MONITOR_DATABASE_URL"])
    assert url.scheme == "postgresql+psycopg"
    assert (url.hostname, url.port) == ("postgres", 5432)  # the service's name
    assert (url.username, url.password) == (
        postgres["POSTGRES_USER"],
        postgres["POSTGRES_PASSWORD"],
    )
    assert url.path == "/" + postgres["POSTGRES_DB"]
    mail = urlsplit(env["MONITOR_SMTP_URL"])
    assert (mail.hostname, mail.port) == ("mailpit", 1025)


def test_watchlists_and_templates_are_the_hosts_read_only(compose: dict[str, Any]) -> None:
    worker = compose["services"]["worker"]
    env, mounts = _environment(worker), _mounts(worker)
    for variable, folder in (
        ("MONITOR_WATCHLISTS", "watchlists"),
        ("MONITOR_TEMPLATES", "templates"),
    ):
        source, options = mounts[env[variable]]
        assert (ROOT / source).resolve() == ROOT / folder and (ROOT / folder).is_dir()
        assert "ro" in options.split(",")
    assert (
        list((ROOT / "watchlists").glob("*.yaml"))
        and (ROOT / "templates" / "digest.html.j2").exists()
    )
    source, options = mounts[env["MONITOR_OUTPUT_DIR"]]
    assert source in compose["volumes"] and "ro" not in options.split(",")


def test_the_worker_health_check_is_a_monitor_command(compose: dict[str, Any]) -> None:
    check = _command(compose["services"]["worker"]["healthcheck"]["test"])
    assert check == ["monitor", "run", "--check"]
    [run] = [c for c in app.registered_commands if c.callback and c.callback.__name__ == "run"]
    assert run.callback is not None and "check" in inspect.signature(run.callback).parameters


def test_the_metrics_port_is_exposed_to_the_network_only(compose: dict[str, Any]) -> None:
    worker = compose["services"]["worker"]
    port = _environment(worker)["MONITOR_METRICS_PORT"]
    assert [str(p) for p in worker["expose"]] == [port]
    assert "ports" not in worker  # three replicas cannot publish one host port


BROKEN = "title: [unclosed\n"


@pytest.mark.parametrize(
    ("reachable", "beat", "watchlists", "healthy", "reason"),
    [
        (True, "now", "repository", True,
         "ok: the database answers, the service beats, 1 watchlist loads"),
        (True, "now", "one broken", True, "1 broken, see `monitor validate`"),
        (True, "never", "repository", False,
         "unhealthy: the database answers, but no `monitor run` on this host beat in the last "
         "60 s (never)"),
        (True, "stale", "repository", False, "beat in the last 60 s (not since "),
        (False, "never", "repository", False, "unhealthy: the database at postgresql+psycopg://"),
        (True, "now", "missing", False, "unhealthy: no watchlist directory"),
        (True, "now", "all broken", False, "unhealthy: no watchlist loads: "),
    ],
    ids=["up", "up-one-broken", "not-running", "hung-or-read-only", "database-down",
         "no-watchlists", "every-watchlist-broken"],
)  # fmt: skip
def test_the_health_check_command_tells_whether_the_worker_works(
    compose: dict[str, Any],
    postgres_url: str,
    tmp_path: Path,
    reachable: bool,
    beat: str,
    watchlists: str,
    healthy: bool,
    reason: str,
) -> None:
    """Healthy means a `monitor run` on this host wrote its heartbeat lately
    (every MONITOR_HEARTBEAT_SECONDS, 15 s; the check wants one of the last
    four): one that stopped, hangs or cannot write is not."""
    store = Store(postgres_url)
    upgrade(store.engine)
    if beat != "never":
        ago = timedelta(seconds=1 if beat == "now" else 61)
        store.heartbeats.beat(datetime.now(UTC) - ago)
    store.close()
    check = _command(compose["services"]["worker"]["healthcheck"]["test"])
    folder = tmp_path / "watchlists"
    if watchlists == "repository":
        folder = ROOT / "watchlists"
    elif watchlists != "missing":
        folder.mkdir()
        (folder / "broken.yaml").write_text(BROKEN, encoding="utf-8")
        if watchlists == "one broken":
            shutil.copy(ROOT / "watchlists" / "dprk-russia.yaml", folder)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")},
        **_environment(compose["services"]["worker"]),
        # The compose file's paths and hosts, as they are outside the containers.
        "MONITOR_DATABASE_URL": postgres_url
        if reachable
        else f"postgresql+psycopg://monitor@127.0.0.1:{free_port()}/monitor",
        "MONITOR_WATCHLISTS": str(folder),
        "MONITOR_TEMPLATES": str(ROOT / "templates"),
        "MONITOR_OUTPUT_DIR": str(tmp_path / "digests"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "monitor.cli", *check[1:]],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == (0 if healthy else 1), output[-2000:]
    assert len(output.strip().splitlines()) == 1 and reason in output, output[-2000:]
    assert "Traceback" not in output


def test_the_dockerfile_builds_a_non_root_worker() -> None:
    lines = [
        line.strip()
        for line in DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    instructions = [(line.split()[0].upper(), line.split(None, 1)[1]) for line in lines]
    [base] = [arg for op, arg in instructions if op == "FROM"]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert base == "python:3.11-slim" and project["requires-python"] == ">=3.11"
    [user] = [arg for op, arg in instructions if op == "USER"]
    assert user not in ("root", "0")
    [command] = [arg for op, arg in instructions if op == "CMD"]
    assert yaml.safe_load(command) == ["monitor", "run"]  # exec form: signals reach it
    assert project["scripts"]["monitor"] == "monitor.cli:main"
    for op, arg in instructions:
        if op == "COPY":
            *sources, _ = arg.split()
            assert all((ROOT / s).exists() for s in sources), arg
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".venv", ".env", ".git"} <= set(ignored)
