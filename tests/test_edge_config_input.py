"""`edge-config` input: what it is given becomes code in a server, or decides what nginx
deletes; every value is checked, errors name the option the user gave, and a named
target of the project file is read as every other command reads it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.test_project_file import NO_PUBLISHER_VARIABLES

ORIGIN = "http://127.0.0.1:9000/bucket"


def cli(*args: str | Path, **env: str) -> object:
    return run_cli(*args, env={**NO_PUBLISHER_VARIABLES, **env})


@pytest.mark.parametrize(
    "address",
    ['fe80::1%"; } acl open { "0.0.0.0"/0; } acl x {', "fe80::1%eth0", "fe80::1%eth0/64",
     "10.0.0.1 ", "10.0.0.0/33", ""],
)  # fmt: skip
def test_a_purge_acl_entry_is_an_address_and_nothing_more(address: str) -> None:
    """An IPv6 zone id holds any byte (Python's parser keeps it): refused with exit 2 and
    nothing printed, as is anything that is not an address or network."""
    result = run_cli("edge-config", "varnish", "--origin", ORIGIN, "--purge-acl", address)
    assert result.exit_code == 2, result.stdout
    assert result.stdout == ""
    assert "--purge-acl" in result.stderr and "no zone" in result.stderr


def test_purge_acl_networks_are_written_out_anew() -> None:
    result = run_cli(
        "edge-config", "varnish", "--origin", ORIGIN,
        "--purge-acl", "10.1.2.3/8", "--purge-acl", "::1", "--purge-acl", "2001:db8::/32",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert '"10.0.0.0"/8;' in result.stdout
    assert '"::1";' in result.stdout and '"2001:db8::"/32;' in result.stdout


@pytest.mark.parametrize("path", ["/bucket/..", "/bucket/../other", "/./bucket", "/b/./site"])
@pytest.mark.parametrize("kind", ["varnish", "nginx"])
def test_an_origin_path_with_dot_segments_is_refused(kind: str, path: str) -> None:
    """`..` would take the edge's requests out of the bucket's prefix (servers resolve it)."""
    result = run_cli("edge-config", kind, "--origin", f"http://127.0.0.1:9000{path}")
    assert result.exit_code == 2, result.stdout
    assert "no . or .. segment" in result.stderr and result.stdout == ""


@pytest.mark.parametrize(
    "origin",
    ["http://127.0.0.1:9000/b\nx", "http://127.0.0.1:90\t00/b", "http://127.0.0.1:9000/b\r"],
)
@pytest.mark.parametrize("kind", ["varnish", "nginx"])
def test_an_origin_with_a_control_character_is_refused(kind: str, origin: str) -> None:
    """urlsplit drops a tab or newline silently: the config would name another origin
    than the one given (`/b\\nx` became `/bx`)."""
    result = run_cli("edge-config", kind, "--origin", origin)
    assert result.exit_code == 2, result.stdout
    assert "no control character" in result.stderr and result.stdout == ""


def test_an_origin_taken_from_the_target_is_named_by_the_target() -> None:
    """The user gave --target, not --origin: the error says which target and what origin
    it came to."""
    result = cli(
        "edge-config", "varnish", "--target", "s3://docs-bucket/site",
        "--endpoint-url", "https://127.0.0.1:9443",
    )  # fmt: skip
    assert result.exit_code == 2, result.stdout
    line = result.stderr.strip().splitlines()[-1]
    assert (
        "--target s3://docs-bucket/site (its origin https://127.0.0.1:9443/docs-bucket/site)"
        in line
    )
    assert "--origin" not in line.split("(its origin")[0]
    assert "Varnish speaks plain HTTP" in line


@pytest.mark.parametrize("how", ["flag", "variable"])
def test_cloudfront_refuses_an_edge_path_prefix_it_cannot_serve(how: str) -> None:
    """The distribution serves /config/<key>: a template that ignored the prefix would send
    the publisher's invalidations to paths nobody reads."""
    args = ["edge-config", "cloudfront", "--bucket", "docs-bucket"]
    env = {}
    if how == "flag":
        args += ["--edge-path-prefix", "/edge"]
    else:
        env["PUBLISHER_EDGE_PATH_PREFIX"] = "/edge"
    result = cli(*args, **env)
    assert result.exit_code == 2, result.stdout
    assert "edge path prefix '/edge' is not supported" in result.stderr
    assert result.stdout == ""


def test_a_named_target_gives_its_bucket_and_edge_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--target production` of publisher.toml: the origin is that bucket at that store,
    the paths that target's edge path prefix, as publish purges them."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "publisher.toml").write_text(
        textwrap.dedent(
            """
            [targets.production]
            url = "s3://docs-bucket/site"
            endpoint_url = "http://127.0.0.1:9000"
            edge_path_prefix = "/edge"
            """
        )
    )
    vcl = cli("edge-config", "varnish", "--target", "production")
    assert vcl.exit_code == 0, vcl.stderr
    assert '.host = "127.0.0.1";' in vcl.stdout and '.port = "9000";' in vcl.stdout
    assert 'set req.url = "/docs-bucket/site"' in vcl.stdout
    assert 'req.url !~ "^/edge/config/' in vcl.stdout
    by_variable = cli("edge-config", "nginx", PUBLISHER_TARGET="production")
    assert by_variable.exit_code == 0, by_variable.stderr
    assert "location /edge/config/ {" in by_variable.stdout
    assert "proxy_pass http://127.0.0.1:9000/docs-bucket/site/config/;" in by_variable.stdout
    unknown = cli("edge-config", "varnish", "--target", "prodution")
    assert unknown.exit_code == 2 and "did you mean 'production'?" in unknown.stderr


def test_an_origin_with_an_edge_path_prefix_and_no_target() -> None:
    result = cli("edge-config", "varnish", "--origin", ORIGIN, "--edge-path-prefix", "/edge")
    assert result.exit_code == 0, result.stderr
    assert 'req.url !~ "^/edge/config/' in result.stdout


def test_the_cache_path_must_hold_nothing_nginx_would_delete(tmp_path: Path) -> None:
    """nginx's cache manager removes what its cache path holds that is not its own: a
    directory with other files, a file, and the target directory itself are refused, and
    nothing in them is touched; an empty directory or nginx's own levels are taken."""
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("keep me")
    (busy / "a").mkdir()  # a level of nginx's own beside it
    refused = run_cli("edge-config", "nginx", "--origin", ORIGIN, "--cache-path", str(busy))
    assert refused.exit_code == 2, refused.stdout
    assert "holds what nginx's cache did not write (notes.txt)" in refused.stderr
    assert (busy / "notes.txt").read_text() == "keep me" and refused.stdout == ""

    hidden = tmp_path / "hidden"  # a file inside what looks like nginx's own levels
    (hidden / "a" / "1f").mkdir(parents=True)
    (hidden / "a" / "precious.txt").write_text("keep me")
    (hidden / "a" / "1f" / "notes").write_text("keep me")
    deep = run_cli("edge-config", "nginx", "--origin", ORIGIN, "--cache-path", str(hidden))
    assert deep.exit_code == 2, deep.stdout
    assert "a/precious.txt" in deep.stderr and "a/1f/notes" in deep.stderr

    a_file = tmp_path / "file"
    a_file.write_text("x")
    not_dir = run_cli("edge-config", "nginx", "--origin", ORIGIN, "--cache-path", str(a_file))
    assert not_dir.exit_code == 2 and "not a directory" in not_dir.stderr

    site = tmp_path / "site"
    (site / "config").mkdir(parents=True)
    for cache in (site, site / "cache", tmp_path):
        result = run_cli("edge-config", "nginx", "--target", str(site), "--cache-path", str(cache))
        assert result.exit_code == 2, (cache, result.stdout)
        assert "the target" in result.stderr and result.stdout == ""

    own = tmp_path / "nginx-cache"
    (own / "0" / "1f").mkdir(parents=True)
    (own / "0" / "1f" / ("0123456789abcdef" * 2)).write_bytes(b"KEY: ...")  # an entry
    (own / "0" / "1f" / "0000000012").write_bytes(b"")  # a temp file
    (own / "e").mkdir()
    for cache in (own, tmp_path / "new-cache"):
        taken = run_cli("edge-config", "nginx", "--origin", ORIGIN, "--cache-path", str(cache))
        assert taken.exit_code == 0, taken.stderr
        assert f"proxy_cache_path {cache} " in taken.stdout


def test_nginx_says_it_has_no_purge() -> None:
    """A purge the open-source nginx refuses would stay pending: the command says so, on
    stderr, and the configuration's header says it too."""
    result = run_cli("edge-config", "nginx", "--origin", ORIGIN)
    assert result.exit_code == 0
    assert "nginx (open source) has no PURGE" in result.stderr
    assert "Publish without --cdn http-purge" in result.stderr
    assert "no PURGE" in result.stdout.splitlines()[0] + result.stdout.splitlines()[1]


def test_labels_and_warnings_say_what_the_user_gave(tmp_path: Path) -> None:
    """The header names the origin as a URL (not the --target words); a bad port is one
    clear line; an edge path prefix under /_publisher (which the VCL never serves) is
    refused; an ACL open to every address is said; --config is taken as elsewhere."""
    site = tmp_path / "site"
    (site / "config").mkdir(parents=True)
    vcl = run_cli("edge-config", "varnish", "--target", site)
    assert vcl.exit_code == 0, vcl.stderr
    assert "a cache in front of http://127.0.0.1:3100." in vcl.stdout.splitlines()[1]
    port = run_cli("edge-config", "varnish", "--origin", "http://127.0.0.1:99999")
    assert port.exit_code == 2
    assert port.stderr.strip() == (
        "error: --origin: not a valid URL (http[s]://host[:port][/path], a port of 1-65535)"
    )
    hidden = run_cli(
        "edge-config", "varnish", "--origin", ORIGIN, "--edge-path-prefix", "/_publisher"
    )
    assert hidden.exit_code == 2 and "not under /_publisher" in hidden.stderr
    open_acl = run_cli("edge-config", "varnish", "--origin", ORIGIN, "--purge-acl", "0.0.0.0/0")
    assert open_acl.exit_code == 0
    assert "warning: --purge-acl lets every address PURGE this edge" in open_acl.stderr
    (tmp_path / "p.toml").write_text(
        '[targets.web]\nurl = "s3://web-bucket"\nendpoint_url = "http://127.0.0.1:9000"\n'
    )
    configured = cli("edge-config", "varnish", "--config", tmp_path / "p.toml", "-t", "web")
    assert configured.exit_code == 0, configured.stderr
    assert 'set req.url = "/web-bucket"' in configured.stdout
