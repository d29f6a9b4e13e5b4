"""`publisher edge-config`: a Varnish or nginx configuration for the cache in front."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..errors import UsageError
from ..servers.edge_config import (
    KINDS,
    EdgeOptions,
    cloudfront_policy,
    render_cloudfront,
    render_edge_config,
)
from ..settings import StorageSettings
from ..targets import origin_url
from ..targets.s3_target import parse_s3_url
from .app import app
from .common import EdgePrefixOpt, EndpointOpt, ProfileOpt, errors, say, write_output


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
        str, typer.Option("--cache-path", help="nginx: where the cache lives.")
    ] = "/var/cache/nginx-publisher",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to FILE instead of stdout.")
    ] = None,
) -> None:
    """Print a cache configuration for the documents: Varnish (a whole VCL 4.1), nginx
    (a block to include inside `http { }`) or CloudFront (a CloudFormation template, and
    with --distribution-arn the bucket policy for origin access control).

    Varnish and nginx serve GET/HEAD /config/<key> as the documents' Cache-Control says,
    serve a stale copy while the origin fails, pass the origin's 400 for an unknown key
    through, and never serve _publisher/ or any other path. Varnish accepts PURGE from
    --purge-acl. CloudFront reads only <prefix>/config/* of a private bucket.
    """
    storage = StorageSettings(endpoint_url, region, profile)
    with errors():
        if kind == "cloudfront":
            bucket, prefix = _bucket_of(target, bucket, prefix)
            text = _cloudfront(bucket, prefix, region or "us-east-1", distribution_arn)
            _emit(text, output)
            return
        if origin is None and target is not None:
            origin = origin_url(target, storage)
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
            edge_prefix=edge_path_prefix or "",
        )
        _emit(render_edge_config(kind, options), output)


def _bucket_of(target: str | None, bucket: str | None, prefix: str) -> tuple[str | None, str]:
    """CloudFront's bucket and prefix: the --target's, unless given on their own."""
    if target is None or bucket is not None:
        return bucket, prefix
    if not target.startswith("s3://"):
        raise UsageError("edge-config cloudfront --target: an s3://bucket[/prefix] target")
    location = parse_s3_url(target)
    return location.bucket, location.prefix


def _cloudfront(bucket: str | None, prefix: str, region: str, arn: str | None) -> str:
    if bucket is None:
        raise UsageError("edge-config cloudfront: give --bucket")
    if arn is None:
        return render_cloudfront(bucket, prefix, region)
    return json.dumps(cloudfront_policy(bucket, prefix, arn), indent=2) + "\n"


def _emit(text: str, output: Path | None) -> None:
    if output is not None:
        write_output(output, text)
        say(f"Wrote {output}", err=True)
    else:
        say(text.rstrip("\n"), reveal=True)
