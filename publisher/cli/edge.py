"""`publisher edge-config`: a Varnish or nginx configuration for the cache in front."""

from __future__ import annotations

import json
import os
import re
from ipaddress import ip_network
from pathlib import Path
from typing import Annotated

import typer

from ..errors import UsageError
from ..redact import printable
from ..servers.edge_config import (
    KINDS,
    EdgeOptions,
    cloudfront_policy,
    render_cloudfront,
    render_edge_config,
)
from ..targets import origin_url
from ..targets.s3_target import parse_s3_url
from .app import ConfigOpt, app
from .common import (
    EdgePrefixOpt,
    EndpointOpt,
    ProfileOpt,
    errors,
    resolve_settings,
    say,
    write_output,
)
from .resolution import TargetSettings

NGINX_NO_PURGE = (
    "Note: nginx (open source) has no PURGE: a document changes at this edge within its "
    "max-age. Publish without --cdn http-purge (a purge would be refused and kept "
    "pending), and wait for the edge with --wait-edge."
)


@app.command("edge-config")
def edge_config(
    kind: Annotated[str, typer.Argument(help=f"The cache: {' or '.join(KINDS)}.")],
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            "-t",
            help="The target the edge is in front of: its origin (the bucket and prefix as "
            "the store is reached, or `publisher serve` of a directory) and paths come "
            "from it, as publish's purges and verify --edge name them.",
        ),
    ] = None,
    origin: Annotated[
        str | None,
        typer.Option(
            "--origin",
            help="varnish, nginx: where the documents come from, when not the --target's: "
            "http://host:port[/bucket[/prefix]] (a bucket, path-style, or `publisher serve`).",
        ),
    ] = None,
    edge_path_prefix: EdgePrefixOpt = None,
    bucket: Annotated[
        str | None, typer.Option("--bucket", help="cloudfront: the (private) bucket.")
    ] = None,
    prefix: Annotated[
        str, typer.Option("--prefix", help="cloudfront: the target's prefix in the bucket.")
    ] = "",
    region: Annotated[
        str | None,
        typer.Option(
            "--region", help="The bucket's region [default: the AWS config's, else us-east-1]."
        ),
    ] = None,
    endpoint_url: EndpointOpt = None,
    profile: ProfileOpt = None,
    distribution_arn: Annotated[
        str | None,
        typer.Option(
            "--distribution-arn",
            help="cloudfront: print the bucket policy for this distribution (without it: "
            "the CloudFormation template of the distribution).",
        ),
    ] = None,
    listen_port: Annotated[
        int, typer.Option("--listen-port", min=1, max=65535, help="nginx: the port to listen on.")
    ] = 8080,
    purge_acl: Annotated[
        list[str] | None,
        typer.Option(
            "--purge-acl",
            help="Varnish: an address or network allowed to PURGE (repeat; default 127.0.0.1).",
        ),
    ] = None,
    cache_size: Annotated[
        str, typer.Option("--cache-size", help="nginx: the cache's largest size (256m, 2g).")
    ] = "256m",
    cache_path: Annotated[
        str,
        typer.Option(
            "--cache-path",
            help="nginx: where the cache lives: a directory of its own (nginx deletes "
            "whatever else it holds; one that holds other files here is refused).",
        ),
    ] = "/var/cache/nginx-publisher",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to FILE instead of stdout.")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Print a cache configuration for the documents: Varnish (a whole VCL 4.1), nginx
    (a block to include inside `http { }`) or CloudFront (a CloudFormation template, and
    with --distribution-arn the bucket policy for origin access control).

    Varnish and nginx serve GET/HEAD /config/<key> as the documents' Cache-Control says,
    serve a stale copy while the origin fails, pass the origin's 400 for an unknown key
    through, and never serve _publisher/ or any other path. Varnish accepts PURGE from
    --purge-acl; open-source nginx has no PURGE (publish without --cdn http-purge and
    wait with --wait-edge). CloudFront reads only <prefix>/config/* of a private bucket.
    """
    with errors():
        resolved = resolve_settings(
            fallback=None,
            target=target,
            endpoint_url=endpoint_url,
            region=region,
            profile=profile,
            edge_path_prefix=edge_path_prefix,
        )
        where = resolved.target
        if kind == "cloudfront":
            _emit(
                _cloudfront(
                    where,
                    bucket,
                    prefix,
                    region,
                    distribution_arn,
                    str(resolved.values["edge_path_prefix"].value),
                ),
                output,
            )
            return
        from_target = where.url if origin is None and where is not None else None
        if from_target is not None and where is not None:
            origin = origin_url(from_target, where.storage)
        if origin is None:
            raise UsageError(
                f"edge-config {kind}: give --target (the target the edge is in front of) or "
                "--origin http://host:port[/path]"
            )
        options = EdgeOptions(
            origin,
            listen_port=listen_port,
            purge_acl=tuple(purge_acl or ("127.0.0.1",)),
            cache_size=cache_size,
            cache_path=cache_path,
            edge_prefix=str(resolved.values["edge_path_prefix"].value),
            target=from_target,
        )
        text = render_edge_config(kind, options)
        if kind == "nginx":
            _check_cache_dir(Path(cache_path), where.url if where is not None else None)
        _emit(text, output)
        if kind == "nginx":
            say(NGINX_NO_PURGE, err=True)
        elif any(ip_network(a, strict=False).prefixlen == 0 for a in options.purge_acl):
            say("warning: --purge-acl lets every address PURGE this edge", err=True)


def _cloudfront(
    where: TargetSettings | None,
    bucket: str | None,
    prefix: str,
    region: str | None,
    arn: str | None,
    edge_prefix: str,
) -> str:
    """The template or bucket policy: the bucket and prefix are the target's unless given."""
    if edge_prefix:
        raise UsageError(
            f"edge-config cloudfront: the edge path prefix {edge_prefix!r} is not "
            "supported: the distribution serves /config/<key> (its OriginPath maps that to "
            "the bucket's prefix); publish with the default edge paths"
        )
    if where is not None and bucket is None:
        if not where.url.startswith("s3://"):
            raise UsageError("edge-config cloudfront --target: an s3://bucket[/prefix] target")
        location = parse_s3_url(where.url)
        bucket, prefix = location.bucket, location.prefix
    if bucket is None:
        raise UsageError("edge-config cloudfront: give --bucket or an s3:// --target")
    region = region or (where.storage.region if where is not None else None) or "us-east-1"
    if arn is None:
        return render_cloudfront(bucket, prefix, region)
    return json.dumps(cloudfront_policy(bucket, prefix, arn), indent=2) + "\n"


def _check_cache_dir(path: Path, target: str | None) -> None:
    """nginx's cache manager deletes every file under its cache path that is not its own:
    where the path exists on this machine, it must be empty or hold only nginx's cache
    levels (one hex digit a directory), and never be, hold or sit in a directory target."""
    if target is not None and not target.startswith("s3://"):
        folder = Path(target).resolve()
        cache = path.resolve()
        if cache == folder or cache.is_relative_to(folder) or folder.is_relative_to(cache):
            raise UsageError(
                f"--cache-path {path}: the target {folder} is there, and nginx deletes what "
                "its cache holds that is not its own: give a directory of the cache's own"
            )
    if not path.exists() and not path.is_symlink():
        return
    if path.is_symlink() or not path.is_dir():
        raise UsageError(f"--cache-path {path}: not a directory: give a directory of its own")
    try:
        strangers = _not_nginx_cache(path)
    except OSError as error:
        raise UsageError(f"--cache-path {path}: cannot be read ({error.strerror})") from None
    if strangers:
        shown = ", ".join(printable(name) for name in strangers[:3])
        more = "" if len(strangers) <= MAX_STRANGERS else " and more"
        raise UsageError(
            f"--cache-path {path}: holds what nginx's cache did not write ({shown}{more}), "
            "and nginx would delete it: give an empty directory or one of its own"
        )


MAX_STRANGERS = 3
_LEVELS = (re.compile(r"[0-9a-f]"), re.compile(r"[0-9a-f]{2}"), re.compile(r"[0-9a-f]{32}"))
"""`levels=1:2`: a directory of one hex digit, one of two, then files named by the
key's MD5 (nginx's temp files, with use_temp_path=off, sit beside them: 10 digits)."""
_TEMP = re.compile(r"[0-9]{10}")


def _not_nginx_cache(root: Path) -> list[str]:
    """What under `root` is not laid out as nginx's cache (levels=1:2) lays out its own,
    as paths relative to it; a few suffice to refuse."""
    strangers: list[str] = []
    stack = [(root, 0)]
    while stack and len(strangers) <= MAX_STRANGERS:
        folder, depth = stack.pop()
        for entry in os.scandir(folder):
            name = Path(entry.path).relative_to(root).as_posix()
            is_dir = entry.is_dir(follow_symlinks=False)
            if depth < 2 and is_dir and _LEVELS[depth].fullmatch(entry.name):
                stack.append((Path(entry.path), depth + 1))
            elif not (
                depth == 2
                and entry.is_file(follow_symlinks=False)
                and (_LEVELS[2].fullmatch(entry.name) or _TEMP.fullmatch(entry.name))
            ):
                strangers.append(name)
    return strangers


def _emit(text: str, output: Path | None) -> None:
    if output is not None:
        write_output(output, text)
        say(f"Wrote {output}", err=True)
    else:
        say(text.rstrip("\n"), reveal=True)
