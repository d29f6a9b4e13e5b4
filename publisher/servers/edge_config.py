"""`publisher edge-config`: a Varnish or nginx configuration for a cache in front of the
origin (a bucket, or `publisher serve`), rendered from the templates in data/templates.

jinja2 writes configuration, never documents. Every value put into a template is
checked first (host, port, path, ACL addresses, sizes): a configuration cannot be made
to carry anything but what these options mean.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import SplitResult, urlsplit

if TYPE_CHECKING:  # imported when a configuration is rendered: a publish needs none
    import jinja2

from ..errors import UsageError
from ..names import AWS_REGION_NAME, BUCKET_NAME
from ..redact import printable, url_for_display
from ..settings import VERSION, EdgePaths

KINDS = ("varnish", "nginx", "cloudfront")
_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")
_PREFIX = re.compile(r"(/[A-Za-z0-9._~-]+)*")
_SIZE = re.compile(r"[1-9][0-9]{0,6}[kmgKMG]?")
_PATH = re.compile(r"/[A-Za-z0-9._/-]*")


@dataclass(frozen=True)
class EdgeOptions:
    origin: str
    listen_port: int = 8080
    purge_acl: tuple[str, ...] = ("127.0.0.1",)
    cache_size: str = "256m"
    cache_path: str = "/var/cache/nginx-publisher"
    edge_prefix: str = ""
    """The edge-path model's prefix (EdgePaths): where the edge serves /config/<key>."""
    target: str | None = None
    """The --target the origin was derived from, named in errors instead of --origin."""
    extra: dict[str, str] = field(default_factory=dict)


def render_edge_config(kind: str, options: EdgeOptions) -> str:
    """The configuration text for `kind` (varnish or nginx); a usage error for bad input."""
    if kind not in KINDS[:2]:
        raise UsageError(f"edge-config {kind!r}: one of {', '.join(KINDS)}")
    values = _values(kind, options)
    suffix = "vcl" if kind == "varnish" else "conf"
    return _environment().get_template(f"{kind}.{suffix}.j2").render(values)


def _environment() -> jinja2.Environment:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("publisher", "data/templates"),
        autoescape=False,  # configuration, not HTML: every value is checked before
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def _values(kind: str, options: EdgeOptions) -> dict[str, object]:
    shown = _named(options)
    parts, port = _split(options, shown)
    scheme, host = parts.scheme.lower(), _host(parts.hostname or "")
    if port == 0:
        raise UsageError(f"{shown}: port 0 is not a port: give 1-65535")
    if scheme not in ("http", "https") or host is None:
        raise UsageError(
            f"{shown}: give http://host[:port][/path] of the origin (a host name, "
            "an IPv4 address or an [IPv6] address without a zone)"
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise UsageError(f"{shown}: no user, password, query or fragment")
    if kind == "varnish" and scheme != "http":
        raise UsageError(
            f"{shown}: Varnish speaks plain HTTP to its backend; give an http:// "
            "origin (a TLS origin needs a sidecar such as hitch or nginx)"
        )
    prefix = parts.path.rstrip("/")
    if not _PREFIX.fullmatch(prefix) or {".", ".."} & set(prefix.split("/")):
        raise UsageError(
            f"{shown}: the path may hold only letters, digits and ._~-/, and no . or .. segment"
        )
    acl = [_acl_entry(address) for address in options.purge_acl]
    if not _SIZE.fullmatch(options.cache_size):
        raise UsageError(f"--cache-size {options.cache_size!r}: a size such as 256m or 2g")
    if not 1 <= options.listen_port <= 65535:
        raise UsageError(f"--listen-port {options.listen_port}: 1-65535")
    _check_cache_path(options.cache_path)
    authority = f"[{host}]" if ":" in host else host
    default_port = 443 if scheme == "https" else 80
    return {
        "version": VERSION,
        "origin_shown": url_for_display(options.origin),
        "scheme": scheme,
        "host": host,
        "port": port or default_port,
        "authority": authority,
        "host_header": authority if port in (None, default_port) else f"{authority}:{port}",
        "prefix": prefix,
        "purge_acl": acl,
        "cache_size": options.cache_size,
        "cache_path": options.cache_path,
        "listen_port": options.listen_port,
        "edge_prefix": EdgePaths(options.edge_prefix).prefix,
        "edge_prefix_re": options.edge_prefix.replace(".", "\\."),
    }


def _split(options: EdgeOptions, shown: str) -> tuple[SplitResult, int | None]:
    """The origin's parts and port, or a usage error."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in options.origin):
        # urlsplit drops tabs and newlines without a word: the origin written would not
        # be the one given
        raise UsageError(f"{shown}: no control character (a tab, a newline) in the origin")
    try:
        parts = urlsplit(options.origin)
        return parts, parts.port
    except ValueError:
        where = (
            "--origin: not"
            if options.target is None
            else f"--target {printable(options.target)}: its origin is not"
        )
        raise UsageError(
            f"{where} a valid URL (http[s]://host[:port][/path], a port of 1-65535)"
        ) from None


def _named(options: EdgeOptions) -> str:
    """How errors name the origin: `--origin URL`, or `--target T (its origin URL)`."""
    shown = url_for_display(options.origin)
    if options.target is None:
        return f"--origin {shown}"
    target = options.target
    named = url_for_display(target) if "://" in target else printable(target)
    return f"--target {named} (its origin {shown})"


def _acl_entry(address: str) -> str:
    """An ACL line's value: `"10.0.0.1"` or, for a network, `"10.0.0.0"/8` (VCL's own),
    written out anew from the parsed address. An IPv6 zone (`fe80::1%eth0`) is refused:
    Python keeps any text after the `%`, and VCL has no place for it."""
    try:
        network = ipaddress.ip_network(address, strict=False)
    except ValueError:
        network = None
    if network is None or "%" in address:
        raise UsageError(
            f"--purge-acl {address!r}: an IPv4 or IPv6 address or network (no zone), "
            "such as 10.0.0.0/8"
        )
    if network.num_addresses == 1:
        return f'"{network.network_address}"'
    return f'"{network.network_address}"/{network.prefixlen}'


def _host(host: str) -> str | None:
    """The origin's host, written out anew: a host name of letters, digits, '-' and '.',
    or an IP address in its own form (an IPv6 zone, `%eth0`, can hold anything: refused);
    None for anything else."""
    if _HOST.fullmatch(host):
        return host.lower()
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
        return None
    return address.compressed


_ARN = re.compile(r"arn:aws[a-z-]*:cloudfront::[0-9]{12}:distribution/[A-Z0-9]{8,20}")


def cloudfront_path(prefix: str) -> str:
    """The documents' path in the bucket, `config/` under the prefix (`site/config/`)."""
    prefix = prefix.strip("/")
    if prefix and not _PREFIX.fullmatch("/" + prefix):
        raise UsageError(f"--prefix {prefix!r}: letters, digits and ._~-/ only")
    return f"{prefix}/" if prefix else ""


def cloudfront_policy(bucket: str, prefix: str, distribution_arn: str) -> dict[str, object]:
    """The bucket policy for origin access control: CloudFront's service principal may
    GET `<prefix>/config/*` only, and only for this distribution."""
    _check_bucket(bucket)
    if not _ARN.fullmatch(distribution_arn):
        raise UsageError(
            f"--distribution-arn {distribution_arn!r}: "
            "arn:aws:cloudfront::<account>:distribution/<ID>"
        )
    path = cloudfront_path(prefix)
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PublisherDocumentsThroughCloudFront",
                "Effect": "Allow",
                "Principal": {"Service": "cloudfront.amazonaws.com"},
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/{path}config/*",
                "Condition": {"StringEquals": {"AWS:SourceArn": distribution_arn}},
            }
        ],
    }


def render_cloudfront(bucket: str, prefix: str, region: str) -> str:
    """A CloudFormation template: the distribution, its /config/* behavior with a cache
    policy and a CORS response headers policy, and origin access control."""
    _check_bucket(bucket)
    if not AWS_REGION_NAME.fullmatch(region):
        raise UsageError(f"--region {region!r}: an AWS region such as eu-west-1")
    path = cloudfront_path(prefix)
    origin_path = "/" + path.rstrip("/") if path else ""
    return (
        _environment()
        .get_template("cloudfront.yaml.j2")
        .render(version=VERSION, bucket=bucket, path=path, origin_path=origin_path, region=region)
    )


def _check_cache_path(path: str) -> None:
    """nginx's cache manager deletes whatever under its cache path is not its own: only a
    directory of its own, at least two levels deep, no `..`."""
    parts = path.strip("/").split("/")
    if not _PATH.fullmatch(path) or ".." in parts or "." in parts or "" in parts:
        raise UsageError(f"--cache-path {path!r}: an absolute path without . or .. segments")
    if len(parts) < 2:
        raise UsageError(
            f"--cache-path {path!r}: nginx deletes every file in its cache directory that is "
            "not its own: give a directory of its own, such as /var/cache/nginx-publisher"
        )


def _check_bucket(bucket: str) -> None:
    if not BUCKET_NAME.fullmatch(bucket) or ".." in bucket:
        raise UsageError(f"--bucket {bucket!r}: not a bucket name (3-63 of a-z, 0-9, '.', '-')")
