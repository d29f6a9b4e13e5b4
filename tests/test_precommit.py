"""The pre-commit hook `publisher-validate`, run by the real pre-commit as a user's
repository runs it: pre-commit builds its own virtualenv and pip-installs this repository
into it (its dependencies from the wheelhouse `make pytest` builds, not the network).

`try-repo`, the way to try a hook before adopting it, installs into a fresh store every
time: one test takes that path. The others run `pre-commit run` with a
.pre-commit-config.yaml naming this repository at a commit, as an adopting repository
does, and share one store: one install for the module (kept on one xdist worker)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import base_state, dump_state
from tests.worktree_copy import committed_copy, git, offline_install_env

pytestmark = pytest.mark.xdist_group("pre-commit")

PRE_COMMIT = shutil.which("pre-commit", path=str(Path(sys.executable).parent))
ENVIRON = {
    name: value
    for name, value in os.environ.items()
    if not name.startswith(("PRE_COMMIT", "PUBLISHER_", "VIRTUAL_ENV", "GIT_"))
}
"""The environment of a developer's shell: no secret, no variable of ours."""


@pytest.fixture(scope="module")
def hooks_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This working tree (tracked and untracked files, as they are now) committed as a
    repository of its own: try-repo then installs it once for every test here."""
    if PRE_COMMIT is None:
        pytest.skip("pre-commit is not installed (pip install -e '.[dev]' installs it)")
    return committed_copy(tmp_path_factory.mktemp("hooks-repo"))


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")


@pytest.fixture
def user_repo(tmp_path: Path) -> Iterator[Path]:
    """A user's repository with a good state and a bad one."""
    git(tmp_path, "init", "-q")
    dump_state(tmp_path / "experiments.yaml", base_state())
    bad = base_state()
    bad["organizations"][0]["experiments"][0]["phases"][0]["weights"] = [0.5, 0.6]
    (tmp_path / "states").mkdir()
    dump_state(tmp_path / "states" / "experiments-bad.yaml", bad)
    git(tmp_path, "add", "-A")
    yield tmp_path


def pre_commit(home: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert PRE_COMMIT is not None
    return subprocess.run(
        [PRE_COMMIT, *args], cwd=cwd, capture_output=True, text=True, timeout=900,
        env={**ENVIRON, **offline_install_env(), "PRE_COMMIT_HOME": str(home)},
    )  # fmt: skip


def run_hook(
    hooks: Path, home: Path, cwd: Path, *files: str, hook: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`pre-commit run` in a repository whose .pre-commit-config.yaml adopts the hook
    (with `hook`'s settings) from `hooks` at its commit."""
    rev = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=hooks, capture_output=True, text=True, check=True
    ).stdout.strip()
    config = {"repos": [{"repo": str(hooks), "rev": rev,
                         "hooks": [{"id": "publisher-validate", **(hook or {})}]}]}  # fmt: skip
    (cwd / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config))
    git(cwd, "add", "-A")
    chosen = ["--files", *files] if files else ["--all-files"]
    return pre_commit(home, cwd, "run", "publisher-validate", "--verbose", *chosen)


def test_the_hook_passes_a_good_state(
    hooks_repo: Path, pre_commit_home: Path, user_repo: Path
) -> None:
    """A valid state: the hook passes, having validated it."""
    run = run_hook(hooks_repo, pre_commit_home, user_repo, "experiments.yaml")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "publisher validate" in run.stdout and "Passed" in run.stdout
    assert "experiments.yaml: valid: 2 organizations, 3 documents" in run.stdout


def test_the_hook_fails_a_bad_state_with_its_line(
    hooks_repo: Path, pre_commit_home: Path, user_repo: Path
) -> None:
    """An invalid state: the hook fails with the problem at its file:line."""
    run = run_hook(hooks_repo, pre_commit_home, user_repo, "states/experiments-bad.yaml")
    assert run.returncode == 1
    assert "Failed" in run.stdout and "- exit code: 3" in run.stdout
    assert "states/experiments-bad.yaml:" in run.stdout
    assert "weights sum to 1.1, not 1" in run.stdout


def test_try_repo_checks_every_state_in_one_call(
    hooks_repo: Path, tmp_path_factory: pytest.TempPathFactory, user_repo: Path
) -> None:
    """`pre-commit try-repo --all-files`: both states go to one `publisher validate` (both
    reported in one hook run), whatever their names."""
    (user_repo / "experiments.yaml").rename(user_repo / "good.yaml")
    git(user_repo, "add", "-A")
    home = tmp_path_factory.mktemp("try-repo-home")
    run = pre_commit(
        home, user_repo, "try-repo", str(hooks_repo), "publisher-validate", "--verbose",
        "--all-files",
    )  # fmt: skip
    assert run.returncode == 1
    assert run.stdout.count("publisher validate....") == 1
    assert "good.yaml: valid: " in run.stdout
    assert "states/experiments-bad.yaml:" in run.stdout


def test_the_hook_needs_no_webhook_secret(
    hooks_repo: Path, pre_commit_home: Path, user_repo: Path
) -> None:
    """A state whose webhook's secret is not in a developer's environment still passes."""
    state = base_state()
    state["organizations"][0]["webhooks"] = [
        {"url": "https://hooks.example/x", "secret_env": "ACME_WEBHOOK_SECRET"}
    ]
    dump_state(user_repo / "experiments.yaml", state)
    git(user_repo, "add", "-A")
    run = run_hook(hooks_repo, pre_commit_home, user_repo, "experiments.yaml")
    assert run.returncode == 0, run.stdout + run.stderr


def test_files_names_the_states_the_hook_checks(
    hooks_repo: Path, pre_commit_home: Path, user_repo: Path
) -> None:
    """The setting .pre-commit-hooks.yaml suggests, `files: ^experiments\\.yaml$`: the
    hook checks that state only; another YAML file, even an invalid state, is not its."""
    run = run_hook(hooks_repo, pre_commit_home, user_repo, hook={"files": r"^experiments\.yaml$"})
    assert run.returncode == 0, run.stdout + run.stderr
    assert "experiments.yaml: valid: 2 organizations, 3 documents" in run.stdout
    assert "experiments-bad.yaml" not in run.stdout
