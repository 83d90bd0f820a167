"""`pip install .` (what the Dockerfile does) gives a monitor that runs outside
the checkout: the wheel carries the templates, the seed watchlist, the
sample feeds and the migrations."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def test_the_wheel_runs_anywhere(tmp_path: Path) -> None:
    # Built from a copy: setuptools leaves a build/ folder beside the sources.
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "data", "digests", "*cache*", "*.egg-info"))  # fmt: skip
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(source)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    [wheel] = tmp_path.glob("monitor-*.whl")
    target = tmp_path / "site"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target",
         str(target), str(wheel)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    env["PYTHONPATH"] = str(target)  # this wheel's monitor, not the checkout's

    def monitor(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "monitor.cli", *args],
            cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

    where = monitor("--version")
    assert where.returncode == 0 and where.stdout.startswith("monitor ")
    started = monitor("init")
    assert started.returncode == 0, started.stderr
    assert (elsewhere / "watchlists" / "dprk-russia.yaml").is_file()
    assert monitor("init").returncode == 1  # nothing overwritten
    validated = monitor("validate")
    assert validated.returncode == 0 and validated.stdout.startswith("ok: 1 watchlist, "), (
        validated.stdout + validated.stderr
    )
    demo = monitor("demo", "--keep", str(tmp_path / "demo"))
    assert demo.returncode == 0, demo.stderr
    page = Path(demo.stdout.strip().removeprefix("digest written: "))
    assert page.is_file() and str(target) not in str(page)
    imported = subprocess.run(
        [sys.executable, "-c", "import monitor, sys; print(monitor.__file__)"],
        cwd=elsewhere, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert imported.stdout.startswith(str(target))  # it really was the wheel's
