"""The project file (publisher.toml), PUBLISHER_* variables and `publisher config`: named
targets read by every command that takes --target; flag, then variable, then file, then
default; every problem of the file at once."""

from __future__ import annotations

import json
import string
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from publisher.cli.resolution import ENVIRONMENT, resolve
from tests.conftest import KEY_A, base_state, dump_state, run_cli, tree
from tests.s3util import BUCKET, CREDENTIALS, moto_server, s3_client

NO_PUBLISHER_VARIABLES = {name: "" for name in ENVIRONMENT.values()}
"""An empty PUBLISHER_* variable counts as unset: each run starts from none."""


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def cli(*args: str | Path, **env: str) -> Any:
    """The CLI with only the PUBLISHER_* variables given here set."""
    return run_cli(*args, env={**NO_PUBLISHER_VARIABLES, **env})


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with a state and a publisher.toml naming two directory targets."""
    monkeypatch.chdir(tmp_path)
    dump_state(tmp_path / "experiments.yaml", base_state())
    write(
        tmp_path / "publisher.toml",
        """
        state = "experiments.yaml"
        default_target = "staging"

        [targets.staging]
        url = "./staging-site"

        [targets.production]
        url = "./production-site"
        prune = true
        edge_path_prefix = "/site"
        """,
    )
    return tmp_path


def published(root: Path) -> set[str]:
    return {name for name in tree(root) if name.startswith("config/")}


def test_the_default_target_and_state_come_from_the_file(project: Path) -> None:
    """`publisher publish` with no argument publishes the file's state to its default target."""
    result = cli("publish")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("Published 3 documents (3 distinct) to staging-site")
    assert len(published(project / "staging-site")) == 3
    assert not (project / "public").exists() and not (project / "production-site").exists()


def test_a_named_target_by_flag_or_variable(project: Path) -> None:
    """--target NAME and PUBLISHER_TARGET=NAME pick a named target; the flag wins."""
    assert cli("publish", "--target", "production").exit_code == 0
    assert len(published(project / "production-site")) == 3
    by_env = cli("publish", PUBLISHER_TARGET="production")
    assert by_env.exit_code == 0 and by_env.stdout.startswith("Nothing to upload")
    flag_wins = cli("publish", "-t", "staging", PUBLISHER_TARGET="production")
    assert flag_wins.exit_code == 0 and "to staging-site" in flag_wins.stdout
    path = cli("publish", "--target", "./elsewhere", PUBLISHER_TARGET="production")
    assert path.exit_code == 0 and len(published(project / "elsewhere")) == 3


def test_every_command_that_takes_a_target_reads_the_file(project: Path) -> None:
    """verify, history, rollback and report use the same named target."""
    assert cli("publish", "-t", "production").exit_code == 0
    state = base_state()
    state["organizations"][0]["experiments"][0]["phases"][0]["coverage"] = 0.5
    dump_state(project / "experiments.yaml", state)
    assert cli("publish", "-t", "production").exit_code == 0
    history = cli("history", "--json", PUBLISHER_TARGET="production")
    assert [g["generation"] for g in json.loads(history.stdout)] == [2, 1]
    assert cli("verify", PUBLISHER_TARGET="production").exit_code == 0
    assert cli("verify").exit_code == 1  # staging, the default target, has nothing
    rolled = cli("rollback", "--to", "1", "-t", "production")
    assert rolled.exit_code == 0, rolled.stderr
    assert rolled.stdout.startswith("Rollback of production-site to generation 1: put back 1")
    assert cli("verify", "-t", "production").exit_code == 1  # the state still says 0.5
    page = cli("report", "-o", project / "status.html", "-t", "production")
    assert page.exit_code == 0 and (project / "status.html").is_file()


def test_prune_from_the_file_and_no_prune(project: Path) -> None:
    """The target's `prune = true` deletes a revoked key's document; --no-prune keeps it."""
    assert cli("publish", "-t", "production").exit_code == 0
    state = base_state()
    state["organizations"][0]["api_keys"][0]["revoked"] = True
    dump_state(project / "experiments.yaml", state)
    kept = cli("publish", "-t", "production", "--no-prune")
    assert kept.exit_code == 0 and f"config/{KEY_A}" in published(project / "production-site")
    pruned = cli("publish", "-t", "production")
    assert pruned.exit_code == 0 and "1 deleted" in pruned.stdout
    assert f"config/{KEY_A}" not in published(project / "production-site")


def test_a_cdn_of_none_given_above_the_file_turns_its_purge_off(project: Path) -> None:
    """The file's target purges an edge; `--cdn none` (or PUBLISHER_CDN=none) for one run
    publishes without it: the file's purge URLs and distribution id go with its cdn. A
    purge URL given where the CDN is none at the same level or above is still refused
    (it would never be purged)."""
    toml = project / "publisher.toml"
    toml.write_text(
        toml.read_text()
        + 'cdn = "http-purge"\npurge_urls = ["http://127.0.0.1:9/"]\ndistribution_id = "E1"\n'
    )
    for run in (
        cli("publish", "-t", "production", "--cdn", "none"),
        cli("publish", "-t", "production", PUBLISHER_CDN="none"),
    ):
        assert run.exit_code == 0, run.stderr
        assert "purge" not in (run.stdout + run.stderr).lower()
    assert f"config/{KEY_A}" in published(project / "production-site")
    flagged = cli("publish", "-t", "staging", "--purge-url", "http://127.0.0.1:9/")
    env = cli("publish", "-t", "staging", PUBLISHER_PURGE_URLS="http://127.0.0.1:9/")
    for refused in (flagged, env):
        assert refused.exit_code == 2
        assert "need --cdn cloudfront or http-purge" in refused.stderr
    assert not (project / "staging-site").exists()


def test_a_profile_that_names_nothing_is_said_where_it_was_set(project: Path) -> None:
    """A profile from PUBLISHER_PROFILE or the project file that the AWS config lacks:
    exit 2, one line naming that source, not --profile."""
    aws_config = write(project / "aws-config", "[default]\nregion = eu-west-1\n")
    toml = project / "publisher.toml"
    toml.write_text(
        toml.read_text()
        + '[targets.store]\nurl = "s3://bucket-never-reached/p"\n'
        + 'endpoint_url = "http://127.0.0.1:9"\nprofile = "ghost"\n'
    )
    aws = {"AWS_CONFIG_FILE": str(aws_config), "AWS_PROFILE": "", "AWS_DEFAULT_PROFILE": ""}
    from_file = cli("history", "-t", "store", **aws)
    from_env = cli("history", "-t", "store", PUBLISHER_PROFILE="nobody", **aws)
    assert from_file.exit_code == 2 and from_env.exit_code == 2
    assert from_file.stderr == (
        "error: profile ghost (publisher.toml [targets.store]): no such profile in the AWS config\n"
    )
    assert from_env.stderr == "error: PUBLISHER_PROFILE nobody: no such profile in the AWS config\n"


def test_an_unknown_target_name_is_a_usage_error_with_a_guess(project: Path) -> None:
    """A name the file does not have: exit 2, a guess, the names, and how to say a path."""
    result = cli("publish", "--target", "prod")
    assert result.exit_code == 2
    assert result.stderr == (
        "error: --target prod: no target named 'prod' in publisher.toml: did you mean "
        "'production'? (targets: staging, production); a directory is written ./prod\n"
    )
    by_env = cli("history", PUBLISHER_TARGET="stagin")
    assert by_env.exit_code == 2 and "PUBLISHER_TARGET stagin:" in by_env.stderr
    assert "did you mean 'staging'?" in by_env.stderr
    assert not (project / "prod").exists()


def test_a_bare_name_without_a_project_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a publisher.toml a bare word is still a name, never silently a folder."""
    monkeypatch.chdir(tmp_path)
    path = dump_state(tmp_path / "s.yaml", base_state())
    result = cli("publish", path, "--target", "public")
    assert result.exit_code == 2
    assert "no target named 'public': there is no publisher.toml here" in result.stderr
    assert "a directory is written ./public" in result.stderr
    assert cli("publish", path, "--target", "./public").exit_code == 0
    scheme = cli("publish", path, "--target", "s3:bucket")  # not a name: a malformed URL
    assert scheme.exit_code == 2 and "s3: is not a target" in scheme.stderr


def test_every_problem_of_the_file_at_once(project: Path) -> None:
    """Unknown keys (with a guess) and bad values: exit 2, each at its line, nothing written."""
    write(
        project / "publisher.toml",
        """
        stat = "experiments.yaml"
        default_target = "live"

        [targets.live]
        url = "./live"
        enpoint_url = "https://s3.example.com"
        cdn = "cloudfrnt"
        prune = "yes"
        purge_urls = ["https://user:hunter2@edge.example"]

        [targets."a.b"]
        url = "./x"
        """,
    )
    result = cli("publish")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "error: publisher.toml: 6 problems in the project file",
        "  publisher.toml:1: stat: unknown key: did you mean 'state'? allowed at the top: "
        "state, default_target, targets",
        "  publisher.toml:6: targets.live.enpoint_url: unknown key: did you mean "
        "'endpoint_url'? allowed in [targets.live]: url, endpoint_url, region, profile, cdn, "
        "distribution_id, purge_urls, edge_urls, edge_path_prefix, cache_control, prune",
        "  publisher.toml:7: targets.live.cdn: 'cloudfrnt' is not one of none, cloudfront, "
        "http-purge, did you mean 'cloudfront'?",
        "  publisher.toml:8: targets.live.prune: give true or false, not a string",
        "  publisher.toml:9: targets.live.purge_urls: a password in a URL is a secret: keep it "
        "out of the project file (give the URL in the environment: PUBLISHER_PURGE_URLS)",
        "  publisher.toml:11: targets.a.b: a target's name is letters, digits, - and _ (no / or .)",
    ]
    assert "hunter2" not in result.stdout + result.stderr
    assert not (project / "live").exists()
    assert cli("config").exit_code == 2
    write(
        project / "edges.toml",
        '[targets.e]\nurl = "./e"\nedge_urls = ["https://u:pw9@e.example"]\n',
    )
    edges = cli("--config", "edges.toml", "config")
    assert (
        edges.exit_code == 2
        and "give the URL in the environment: PUBLISHER_EDGE_URLS" in edges.stderr
    )
    write(project / "typo.toml", 'state = "experiments.yaml"\n\n[targts.x]\nurl = "./x"\n')
    typo = cli("--config", "typo.toml", "config")
    assert (
        typo.exit_code == 2
        and "  typo.toml:3: targts: unknown key: did you mean 'targets'?" in typo.stderr
    )


def test_not_toml_and_a_missing_config(project: Path) -> None:
    """A file that is not TOML, or a --config that is not there: one line, exit 2."""
    write(project / "broken.toml", "[targets.x\nurl = 1\n")
    broken = cli("--config", "broken.toml", "history")
    assert broken.exit_code == 2
    assert broken.stderr.startswith("error: broken.toml: not valid TOML: ")
    missing = cli("history", "--config", "nope.toml")
    assert missing.exit_code == 2 and missing.stderr == "error: nope.toml: no such project file\n"
    env = cli("history", PUBLISHER_CONFIG="nope.toml")
    assert env.exit_code == 2 and "nope.toml: no such project file" in env.stderr
    for deep in ("a = " + "[" * 5000 + "]" * 5000, "a = " + "{b = " * 5000 + "1" + "}" * 5000):
        write(project / "deep.toml", deep + "\n")
        nested = cli("--config", "deep.toml", "config")
        assert nested.exit_code == 2 and "Traceback" not in nested.stderr
        assert nested.stderr == "error: deep.toml: not valid TOML: nested too deeply\n"


def test_config_elsewhere_reads_paths_from_its_folder(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--config ci/publisher.toml (or PUBLISHER_CONFIG): its state and directory targets are
    paths from its own folder."""
    (project / "ci").mkdir()
    (project / "publisher.toml").rename(project / "ci" / "publisher.toml")
    (project / "experiments.yaml").rename(project / "ci" / "experiments.yaml")
    assert cli("publish", "--config", "ci/publisher.toml").exit_code == 0
    assert len(published(project / "ci" / "staging-site")) == 3
    again = cli("publish", PUBLISHER_CONFIG="ci/publisher.toml")
    assert again.exit_code == 0 and again.stdout.startswith("Nothing to upload")


def test_config_says_where_each_setting_came_from(project: Path) -> None:
    """`publisher config`: flag, then PUBLISHER_* variable, then the file, then the default."""
    result = cli(
        "config", "--region", "eu-west-3",
        PUBLISHER_TARGET="production", PUBLISHER_CACHE_CONTROL="max-age=5",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    rows = {line.split()[0]: line.split(None, 2)[1:] for line in result.stdout.splitlines()}
    assert rows["config"] == ["publisher.toml", "the working directory"]
    assert rows["state"] == ["experiments.yaml", "publisher.toml"]
    assert rows["target"] == ["production", "PUBLISHER_TARGET"]
    assert rows["url"] == ["./production-site", "publisher.toml [targets.production]"]
    assert rows["region"] == ["eu-west-3", "--region"]
    assert rows["cache_control"] == ["max-age=5", "PUBLISHER_CACHE_CONTROL"]
    assert rows["prune"] == ["true", "publisher.toml [targets.production]"]
    assert rows["cdn"] == ["none", "default"]
    assert rows["edge_path_prefix"] == ["/site", "publisher.toml [targets.production]"]
    as_json = json.loads(cli("config", "--json", "-t", "staging").stdout)
    assert as_json["target_name"] == "staging"
    assert as_json["settings"]["url"] == {
        "value": "./staging-site",
        "source": "publisher.toml [targets.staging]",
    }
    assert as_json["settings"]["endpoint_url"] == {"value": None, "source": "default"}


def test_config_prints_no_secret(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No credential and no URL password reaches the output, whatever the environment holds."""
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI-secret-value")
    result = cli(
        "config", "--json",
        PUBLISHER_PURGE_URLS="https://purger:s3cr3t-pw@edge.example/purge?token=abc123",
        PUBLISHER_CDN="http-purge",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    for secret in ("wJalrXUtnFEMI", "s3cr3t-pw", "purger", "abc123"):
        assert secret not in result.stdout + result.stderr
    assert json.loads(result.stdout)["settings"]["purge_urls"]["value"] == [
        "https://edge.example/purge"
    ]


def test_variables_are_checked_as_the_file_is(project: Path) -> None:
    """A bad PUBLISHER_* value is exit 2, naming the variable."""
    cases = {
        "PUBLISHER_CDN": ("cloudfrnt", "PUBLISHER_CDN: 'cloudfrnt' is not one of none, "
                          "cloudfront, http-purge, did you mean 'cloudfront'?"),
        "PUBLISHER_PRUNE": ("maybe", "PUBLISHER_PRUNE='maybe': give true or false"),
        "PUBLISHER_REGION": ("eu west", "PUBLISHER_REGION: 'eu west': not a region name"),
        "PUBLISHER_PURGE_URLS": ("edge.local", "PUBLISHER_PURGE_URLS: 'edge.local': not an "
                                 "http:// or https:// URL with a host"),
    }  # fmt: skip
    for name, (value, message) in cases.items():
        result = cli("publish", **{name: value})
        assert result.exit_code == 2, name
        assert result.stderr.startswith(f"error: {message}"), result.stderr
    assert not (project / "staging-site").exists()


def test_the_resolved_target_carries_the_edge_settings(project: Path) -> None:
    """edge_urls is carried on the resolved target (verify's edges); edge_path_prefix becomes the edge-path model of its CDN settings, and the flag
    wins over the file."""
    found = resolve(
        {"target": "production"}, environ={"PUBLISHER_EDGE_URLS": "https://cdn.acme.example"}
    )
    assert found.target is not None
    assert found.target.edge_urls == ("https://cdn.acme.example",)
    assert found.target.edge_path_prefix == "/site"
    assert found.target.cdn.edge_paths.path(KEY_A) == f"/site/config/{KEY_A}"
    flag = resolve({"target": "production", "edge_path_prefix": "/x"}, environ={})
    assert flag.target is not None and flag.target.cdn.edge_paths.prefix == "/x"
    assert found.target.prune is True and found.target.url == "./production-site"
    other = resolve({"target": "staging"}, environ={"PUBLISHER_EDGE_URLS": "https://e1 https://e2"})
    assert other.target is not None and other.target.edge_urls == ("https://e1", "https://e2")


def test_verify_compares_the_targets_edges(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A target's edge_urls are the edges `verify` compares when given no --edge (here
    `publisher serve` of the target itself, on 127.0.0.1); --edge replaces them."""
    import threading

    from publisher.servers.serve import make_server
    from publisher.settings import DEFAULT_CACHE_CONTROL

    monkeypatch.chdir(tmp_path)
    dump_state(tmp_path / "experiments.yaml", base_state())
    assert cli("publish", "experiments.yaml", "--target", "./site").exit_code == 0
    server = make_server(tmp_path / "site", "127.0.0.1", 0, DEFAULT_CACHE_CONTROL)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    edge = f"http://127.0.0.1:{server.server_port}"
    try:
        write(
            tmp_path / "publisher.toml",
            f"""
            state = "experiments.yaml"
            default_target = "site"

            [targets.site]
            url = "./site"
            edge_urls = ["{edge}"]
            """,
        )
        checked = cli("verify")
        assert checked.exit_code == 0, checked.stderr
        assert f"and {edge} (3 fetched)" in checked.stdout
        (tmp_path / "site" / "config" / KEY_A).write_bytes(b"{}")  # stale at the edge too
        drift = cli("verify", "--json")
        assert drift.exit_code == 1
        assert {d["where"] for d in json.loads(drift.stdout)["drift"]} >= {edge}
        other = cli("verify", "--edge", "http://127.0.0.1:9", "--json")
        assert other.exit_code == 4 and edge not in other.stdout
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    with moto_server() as endpoint:
        yield endpoint


def test_an_s3_target_with_its_store_and_headers_from_the_file(project: Path, moto: str) -> None:
    """A named s3:// target: its endpoint_url, region and cache_control come from the file,
    for init-bucket and publish alike."""
    write(
        project / "publisher.toml",
        f"""
        state = "experiments.yaml"
        default_target = "bucket"

        [targets.bucket]
        url = "s3://{BUCKET}/site"
        endpoint_url = "{moto}"
        region = "us-east-1"
        cache_control = "public, max-age=5"
        """,
    )
    made = cli("init-bucket", "--create")
    assert made.exit_code == 0, made.stderr
    result = cli("publish")
    assert result.exit_code == 0, result.stderr
    assert f"to s3://{BUCKET}/site" in result.stdout
    client: Any = s3_client(moto)
    head = client.head_object(Bucket=BUCKET, Key=f"site/config/{KEY_A}")
    assert head["CacheControl"] == "public, max-age=5"
    flag = cli("publish", "--cache-control", "no-cache")  # the flag wins over the file
    assert flag.exit_code == 0, flag.stderr
    head = client.head_object(Bucket=BUCKET, Key=f"site/config/{KEY_A}")
    assert head["CacheControl"] == "no-cache"


# --- open-ended values: never a traceback, never a password echoed -----------------------

TEXT = st.text(alphabet=string.printable + "é…\u202e\x00", max_size=30)
VALUES = st.one_of(
    TEXT,
    st.booleans(),
    st.integers(),
    st.lists(TEXT, max_size=3),
    st.sampled_from(["s3://bucket/site", "./dir", "https://u:pw-xyz@h.example", "cloudfront"]),
)
KEYS = st.sampled_from(
    ["url", "endpoint_url", "region", "profile", "cdn", "distribution_id", "purge_urls",
     "edge_urls", "edge_path_prefix", "cache_control", "prune", "nope", "URL"]
)  # fmt: skip


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(value)  # a TOML basic string reads JSON's escapes


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(table=st.dictionaries(KEYS, VALUES, max_size=6), name=st.sampled_from(["live", "x y"]))
def test_any_project_file_is_read_or_refused_cleanly(
    tmp_path: Path, table: dict[str, Any], name: str
) -> None:
    """Whatever a target's values, `publisher config` exits 0 or 2 without a traceback and
    never prints a URL's password."""
    lines = ['default_target = "live"', f'[targets."{name}"]']
    lines += [f"{key} = {toml_value(value)}" for key, value in table.items()]
    path = tmp_path / "p.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = cli("config", "--config", path)
    assert result.exit_code in (0, 2), result.stderr
    assert "Traceback" not in result.stderr
    assert "pw-xyz" not in result.stdout + result.stderr
    if result.exit_code == 0:
        assert name == "live" and "url" in table
