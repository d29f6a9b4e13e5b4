"""action.yml, the composite GitHub Action: zizmor finds nothing in it nor in the README's
workflow, every `uses:` is pinned to a commit, and its steps' commands, run as a runner
runs a composite action's bash steps, validate, plan (Markdown in the job summary) and
publish."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import KEY_A, KEY_A_CHECKOUT, KEY_G, base_state, dump_state
from tests.worktree_copy import ROOT, committed_copy, offline_install_env

ACTION = ROOT / "action.yml"
ZIZMOR = shutil.which("zizmor", path=str(Path(sys.executable).parent))
PINNED = re.compile(r"[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}")
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")

pytestmark = pytest.mark.xdist_group("action")  # one runner, one install: one worker


def zizmor(path: Path) -> subprocess.CompletedProcess[str]:
    if ZIZMOR is None:
        pytest.skip("zizmor is not installed (pip install -e '.[dev]' installs it)")
    return subprocess.run(
        [ZIZMOR, "--offline", "--persona", "pedantic", "--no-progress", str(path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def readme_workflow() -> str:
    """The workflow the README shows, as a user would copy it."""
    text = (ROOT / "README.md").read_text()
    found = re.search(r"```yaml\n(# \.github/workflows/overrides\.yml.*?)```", text, re.S)
    assert found, "the README shows .github/workflows/overrides.yml"
    return found[1]


def uses(node: Any) -> list[str]:
    """Every `uses:` in a workflow or action, however deep."""
    if isinstance(node, dict):
        found = [str(v) for k, v in node.items() if k == "uses"]
        return found + [u for v in node.values() for u in uses(v)]
    if isinstance(node, list):
        return [u for v in node for u in uses(v)]
    return []


# --- pinned, least-privilege, zizmor clean ------------------------------------------------


def test_zizmor_finds_nothing_in_the_action() -> None:
    """zizmor, pedantic: no finding at any severity in action.yml."""
    run = zizmor(ACTION)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "No findings to report" in run.stdout + run.stderr


def test_zizmor_finds_nothing_in_the_readme_workflow(tmp_path: Path) -> None:
    """The README's workflow (plan on pull request, publish on merge) as a user's file."""
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "overrides.yml").write_text(readme_workflow())
    run = zizmor(workflows / "overrides.yml")
    assert run.returncode == 0, run.stdout + run.stderr


def test_zizmor_would_see_an_unpinned_action(tmp_path: Path) -> None:
    """The check can fail: the same action with a tag instead of a commit is a finding."""
    text = re.sub(r"setup-python@[0-9a-f]{40}", "setup-python@v7", ACTION.read_text())
    (tmp_path / "action.yml").write_text(text)
    run = zizmor(tmp_path / "action.yml")
    assert run.returncode != 0 and "unpinned-uses" in run.stdout + run.stderr


def test_every_action_used_is_pinned_to_a_commit() -> None:
    """action.yml and the README's workflow use other actions by commit, never by tag."""
    found = uses(yaml.safe_load(ACTION.read_text())) + uses(yaml.safe_load(readme_workflow()))
    assert found and all(PINNED.fullmatch(u) for u in found), found


def test_the_workflow_grants_the_least() -> None:
    """No permission by default; contents: read everywhere; an OIDC token only where a
    cloud role is assumed; no stored AWS key; the publish job in an environment."""
    workflow = yaml.safe_load(readme_workflow())
    assert workflow["permissions"] == {}
    jobs = workflow["jobs"]
    assert jobs["validate"]["permissions"] == {"contents": "read"}
    for name in ("plan", "publish"):
        assert jobs[name]["permissions"] == {"contents": "read", "id-token": "write"}
    assert jobs["publish"]["environment"] == "production"
    assert "aws-access-key-id" not in readme_workflow()
    steps = {s["with"]["command"]: s for j in jobs.values() for s in j["steps"] if "with" in s
             and "command" in s["with"]}  # fmt: skip
    assert set(steps) == {"validate", "plan", "publish"}


# --- the steps, run as a runner runs them ----------------------------------------------------


@dataclass
class Ran:
    code: int
    outputs: dict[str, str]
    summary: str
    log: str


class Runner:
    """Runs action.yml as a GitHub runner runs a composite action: each `shell: bash` step
    as `bash --noprofile --norc -eo pipefail FILE` in the workspace, with its `env:`
    (expressions evaluated first), GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files, and the
    steps' outputs passed on; a `uses:` step (setup-python) gives its output as the
    runner's Python would."""

    def __init__(self, action_path: Path, temp: Path) -> None:
        self.action_path, self.temp = action_path, temp
        self.action = yaml.safe_load((action_path / "action.yml").read_text())

    def run(self, workspace: Path, inputs: dict[str, str], env: dict[str, str]) -> Ran:
        given = {name: str(spec.get("default", "")) for name, spec in self.action["inputs"].items()}
        given.update(inputs)
        steps: dict[str, dict[str, str]] = {}
        summary = self.temp / "summary.md"
        summary.write_text("")
        log = ""
        for step in self.action["runs"]["steps"]:
            context = {"inputs": given, "steps": steps}
            if "uses" in step:
                assert PINNED.fullmatch(step["uses"]) and "setup-python" in step["uses"]
                steps[step["id"]] = {"python-path": sys.executable}
                continue
            output = self.temp / "output"
            output.write_text("")
            values = {k: self.evaluate(str(v), context) for k, v in step.get("env", {}).items()}
            script = self.temp / "step.sh"
            script.write_text(step["run"])
            done = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                cwd=workspace, capture_output=True, text=True, timeout=600,
                env={**env, **values, "GITHUB_OUTPUT": str(output),
                     "GITHUB_STEP_SUMMARY": str(summary), "RUNNER_TEMP": str(self.temp),
                     "GITHUB_ACTION_PATH": str(self.action_path),
                     "GITHUB_WORKSPACE": str(workspace)},
            )  # fmt: skip
            log += done.stdout + done.stderr
            if "id" in step:
                steps[step["id"]] = dict(
                    line.split("=", 1) for line in output.read_text().splitlines() if "=" in line
                )
            if done.returncode != 0:
                return Ran(done.returncode, steps.get("run", {}), summary.read_text(), log)
        outputs = {
            name: self.evaluate(spec["value"], {"inputs": given, "steps": steps})
            for name, spec in self.action["outputs"].items()
        }
        return Ran(0, outputs, summary.read_text(), log)

    def evaluate(self, text: str, context: dict[str, Any]) -> str:
        """The few expressions an action.yml may use here; any other fails the test."""

        def one(match: re.Match[str]) -> str:
            name = match[1]
            if name == "github.action_path":
                return str(self.action_path)
            parts = name.split(".")
            if parts[0] == "inputs" and len(parts) == 2:
                return str(context["inputs"][parts[1]])
            if parts[0] == "steps" and len(parts) == 4 and parts[2] == "outputs":
                return str(context["steps"].get(parts[1], {}).get(parts[3], ""))
            raise AssertionError(f"an expression this test does not know: {name}")

        return EXPRESSION.sub(one, text)


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    """The action at a commit of this tree; its temp folder (and so its virtualenv) is
    kept between the runs here, as on one runner. The job's first step installs it, once
    for the module (test_another_commit_of_the_action_installs_itself times an install
    of its own)."""
    action_path = committed_copy(tmp_path_factory.mktemp("action"))
    installed = Runner(action_path, tmp_path_factory.mktemp("runner-temp"))
    checkout = tmp_path_factory.mktemp("first-step")
    dump_state(checkout / "experiments.yaml", base_state())
    first = installed.run(checkout, {"command": "validate", "state": "experiments.yaml"}, environ())
    assert first.code == 0, first.log
    return installed


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Path]:
    """A user's checkout: a state and a publisher.toml naming a directory target."""
    dump_state(tmp_path / "experiments.yaml", base_state())
    (tmp_path / "publisher.toml").write_text(
        'state = "experiments.yaml"\n[targets.site]\nurl = "./site"\n'
    )
    yield tmp_path


def environ() -> dict[str, str]:
    """A runner's environment: no variable of ours; pip installs from the wheelhouse."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("PUBLISHER_", "VIRTUAL_ENV"))}
    return {**kept, **offline_install_env()}


def test_validate_plan_and_publish_as_a_runner_would(runner: Runner, workspace: Path) -> None:
    """validate passes; a plan of a first publish says what would change (changes=true) in
    the job summary and writes nothing; publish writes the documents and its outcome; a
    plan then has nothing to say (changes=false)."""
    checked = runner.run(workspace, {"command": "validate"}, environ())
    assert checked.code == 0, checked.log
    assert "experiments.yaml: valid: 2 organizations" in checked.log
    assert checked.outputs["exit-code"] == "0"

    plan = runner.run(workspace, {"command": "plan", "target": "site"}, environ())
    assert plan.code == 0, plan.log
    assert plan.outputs["exit-code"] == "1" and plan.outputs["changes"] == "true"
    assert plan.summary.startswith("### publisher plan: `site`\n")
    assert "3 added" in plan.summary and "#### acme" in plan.summary
    assert not (workspace / "site").exists()
    assert Path(plan.outputs["markdown"]).read_text() == plan.summary

    done = runner.run(workspace, {"command": "publish", "target": "site"}, environ())
    assert done.code == 0, done.log
    assert done.summary.startswith("### publisher publish: `site`\n")
    assert "**Published** · 3 added" in done.summary
    assert sorted(p.name for p in (workspace / "site" / "config").iterdir()) == sorted(
        [KEY_A, KEY_A_CHECKOUT, KEY_G]
    )
    for text in (plan.summary, done.summary, plan.log, done.log):
        assert not any(key in text for key in (KEY_A, KEY_A_CHECKOUT, KEY_G))

    again = runner.run(workspace, {"command": "plan", "target": "site"}, environ())
    assert again.code == 0 and again.outputs["changes"] == "false"
    assert "**Nothing would change**" in again.summary


def test_a_plan_of_an_invalid_state_fails_with_its_problems(
    runner: Runner, workspace: Path
) -> None:
    """Exit 3 fails the step; the summary says why, at the line."""
    state = base_state()
    state["organizations"][0]["experiments"][0]["phases"][0]["weights"] = [0.5, 0.6]
    dump_state(workspace / "experiments.yaml", state)
    plan = runner.run(workspace, {"command": "plan", "target": "site"}, environ())
    assert plan.code == 3
    assert plan.outputs["exit-code"] == "3" and "changes" not in plan.outputs
    assert "**Failed (exit 3)**" in plan.summary and "weights sum to 1.1" in plan.summary


def test_inputs_reach_the_command_as_arguments(runner: Runner, workspace: Path) -> None:
    """state, target and args (split at whitespace) are the command's; a job's own
    PUBLISHER_TARGET stands when the target input is empty; an unknown command is exit 2."""
    (workspace / "experiments.yaml").rename(workspace / "other.yaml")
    result = runner.run(
        workspace,
        {"command": "publish", "state": "other.yaml", "args": "--target ./elsewhere --json"},
        environ(),
    )
    assert result.code == 0, result.log
    line = next(line for line in result.log.splitlines() if line.startswith('{"ok":'))
    assert json.loads(line)["counts"]["added"] == 3
    assert (workspace / "elsewhere" / "config" / KEY_A).is_file()
    by_job = runner.run(
        workspace,
        {"command": "plan", "state": "other.yaml"},
        {**environ(), "PUBLISHER_TARGET": "site"},
    )
    assert by_job.code == 0 and "### publisher plan: `site`" in by_job.summary
    wrong = runner.run(workspace, {"command": "deploy"}, environ())
    assert wrong.code == 2 and "command must be validate, plan or publish" in wrong.log


def test_installed_once_per_commit_of_the_action(runner: Runner, workspace: Path) -> None:
    """A second step with the same commit of the action uses the job's install."""
    first = runner.run(workspace, {"command": "validate"}, environ())
    assert first.code == 0, first.log
    marker = runner.temp / "publisher-venv" / "left-by-a-test"
    marker.write_text("")
    try:
        again = runner.run(workspace, {"command": "validate"}, environ())
        assert again.code == 0 and marker.exists()
    finally:
        marker.unlink(missing_ok=True)


def test_another_commit_of_the_action_installs_itself(
    runner: Runner, workspace: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A step with another commit of the action (here one whose version differs) installs
    that one instead of the one the job holds (a runner temp of its own, whose install
    says it came from another action path: the module's runner keeps its install)."""
    temp = tmp_path_factory.mktemp("another-job")
    venv = temp / "publisher-venv"
    venv.mkdir()
    (venv / "installed-from").write_text(str(runner.action_path))
    (venv / "left-by-a-test").write_text("")
    other_path = committed_copy(tmp_path_factory.mktemp("other-action"))
    settings = other_path / "publisher" / "settings.py"
    settings.write_text(settings.read_text().replace('VERSION = "0.1.0"', 'VERSION = "0.1.0+b"'))
    other = Runner(other_path, temp).run(workspace, {"command": "validate"}, environ())
    assert other.code == 0, other.log
    assert "publisher 0.1.0+b" in other.log and not (venv / "left-by-a-test").exists()
