"""This working tree as a repository of its own, for the tools that install it the way a
user's CI would (pre-commit try-repo, the GitHub Action's pip install)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WHEELHOUSE = ROOT / ".venv" / "wheelhouse"
"""Built by `make pytest` (so by `make test`): every wheel an install from source needs."""


def offline_install_env() -> dict[str, str]:
    """pip and virtualenv settings under which installing this package from source takes
    every wheel from WHEELHOUSE and makes no network request: as a CI runner with its
    own package mirror, and a test's traffic stays on this machine."""
    if not (WHEELHOUSE / ".built").is_file():
        pytest.skip(f"no wheelhouse at {WHEELHOUSE}: `make pytest` builds it")
    return {
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(WHEELHOUSE),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "VIRTUALENV_NO_PERIODIC_UPDATE": "1",
    }


def git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci", *args],
        cwd=cwd, check=True, capture_output=True,
    )  # fmt: skip


def committed_copy(repo: Path) -> Path:
    """Copy the tracked and untracked files (as they are now, ignored ones left out) into
    `repo` and commit them there: what is tested is the tree, not the last commit."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT, check=True, capture_output=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "the repository as tested")
    return repo
