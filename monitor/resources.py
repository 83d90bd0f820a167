"""Where the package's own files are: the built-in templates, the seed
watchlist and the sample feeds. Installed, they are copies inside the
package (monitor/builtin/, as pyproject.toml maps them); in a checkout, the
repository's templates/ and watchlists/ folders. Never the working
directory: `monitor` runs from anywhere."""

from __future__ import annotations

from pathlib import Path

SEED = "dprk-russia.yaml"
HERE = Path(__file__).resolve().parent


def _folder(name: str) -> Path:
    for candidate in (HERE / "builtin" / name, HERE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"the package's built-in {name} are missing (looked in {HERE})")


def builtin_templates() -> Path:
    return _folder("templates")


def seed_watchlists() -> Path:
    """The folder holding the seed watchlist (SEED)."""
    return _folder("watchlists")


def samples() -> Path:
    """The sample feeds `monitor demo` serves."""
    return HERE / "samples"
