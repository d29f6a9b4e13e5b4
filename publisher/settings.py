"""Everything a publish can be told, as data: the algorithm's options, the storage, the CDN.

A Python caller builds these and calls `publisher.publish`; the command line maps its
options onto the same objects. The defaults live here and nowhere else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from .errors import UsageError
from .state.model import StoppedPolicy

if TYPE_CHECKING:
    from .aws.options import AwsOptions

VERSION = "0.1.0"
"""The package version (pyproject.toml says the same; a test checks)."""
DEFAULT_TARGET = "./public"
DEFAULT_MAX_DELETES = 100
DEFAULT_LOCK_TTL = 900.0
MAX_LOCK_TTL = 86_400.0
"""The longest --lock-ttl: a crashed publisher's lock blocks the target at most a day,
and a lock that claims to last longer than this from now is not believed."""
DEFAULT_MAX_DOCUMENT_BYTES = 1024 * 1024
DOCUMENT_READ_CAP = 64 << 20
"""The largest --max-document-bytes, and the most of a live document ever read back:
a larger one differs from every document the publisher writes."""
DEFAULT_CACHE_CONTROL = "public, max-age=30, stale-while-revalidate=30, stale-if-error=86400"
DEFAULT_INVALIDATION_THRESHOLD = 100
DEFAULT_FULL_SCAN_EVERY = 24 * 3600.0
DEFAULT_KEEP_GENERATIONS = 100
MAX_KEEP_GENERATIONS = 100_000


@dataclass(frozen=True)
class PublishOptions:
    """How the publish algorithm behaves."""

    stopped_policy: StoppedPolicy = StoppedPolicy.winners_only
    prune: bool = False
    prune_unmanaged: bool = False
    """With prune: also delete key-shaped files under config/ that no manifest records."""
    max_deletes: int = DEFAULT_MAX_DELETES
    force: bool = False
    dry_run: bool = False
    max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES
    lock_ttl: float = DEFAULT_LOCK_TTL
    full_scan: bool = False
    """List every live document (repairing out-of-band changes) instead of planning from
    the manifest."""
    full_scan_every: float = DEFAULT_FULL_SCAN_EVERY
    """Seconds after which a full scan runs by itself; 0: every publish."""
    keep_generations: int = DEFAULT_KEEP_GENERATIONS
    """Generations kept restorable (`publisher rollback`); older ones are collected."""
    ignore_pending_purge: bool = False
    """Publish without the CDN although a purge of an earlier publish is pending (it stays
    pending); otherwise that is an error (exit 4) before anything is written."""
    describe: bool = False
    """Also work out each changed document's experiment-level changes on a real publish
    (a dry run always does): `result.diffs`, for a report."""
    environ: Mapping[str, str] | None = None
    """Where webhook secrets are read from (default: os.environ)."""


class RetryMode(StrEnum):
    """botocore's retry modes for throttling and 5xx."""

    standard = "standard"
    adaptive = "adaptive"
    legacy = "legacy"


class UploadClient(StrEnum):
    """Who sends the document PUTs (everything else is botocore's)."""

    native = "native"
    botocore = "botocore"


@dataclass(frozen=True)
class StorageSettings:
    """How to reach an `s3://` target (ignored for a directory) and how to write to it."""

    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    cache_control: str = DEFAULT_CACHE_CONTROL
    concurrency: int | None = None
    """Uploads in flight; None: chosen from the store's round trip."""
    retry_mode: RetryMode | None = None
    """None: the AWS configuration's (AWS_RETRY_MODE, the profile's retry_mode), else
    standard."""
    lock: bool = True
    """False skips the publish lock, for stores without conditional writes."""
    upload_client: UploadClient = UploadClient.native
    """Who sends the document PUTs: obstore in native code (where it can honour the
    store's configuration; botocore otherwise), or botocore's threads."""
    profile_source: str = "--profile"
    """Where `profile` was set, for the line that says it names no profile."""

    def aws_options(self, pool_size: int = 32) -> AwsOptions:
        """The store's options as the AWS layer takes them: the one mapping, used by every
        command that reaches S3 or CloudFront."""
        from .aws.options import AwsOptions

        mode = None if self.retry_mode is None else self.retry_mode.value
        return AwsOptions(
            self.endpoint_url,
            self.region,
            self.profile,
            retry_mode=mode,
            pool_size=pool_size,
            profile_source=self.profile_source,
        )


_EDGE_PREFIX = re.compile(r"(/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)*")


@dataclass(frozen=True)
class EdgePaths:
    """Where the edge serves a key's document (SPEC §6): `<prefix>/config/<key>`, with no
    prefix unless the edge maps its paths onto the bucket's one to one (`/site`).

    The one source of every path named at the edge: PURGE URLs, CloudFront invalidation
    paths, `verify --edge`, `--wait-edge`, and the paths the configurations of
    `edge-config` serve. The generated configurations serve `/config/<key>` whatever the
    target's prefix (they map it onto the origin's)."""

    prefix: str = ""

    def __post_init__(self) -> None:
        if not _EDGE_PREFIX.fullmatch(self.prefix) or self.prefix.endswith("/"):
            raise UsageError(
                f"--edge-path-prefix {self.prefix!r}: empty, or /segments of letters, "
                "digits and ._~- (such as /site), with no / at the end"
            )
        segments = self.prefix.split("/")[1:]
        if {".", ".."} & set(segments) or (segments and segments[0] == "_publisher"):
            raise UsageError(
                f"--edge-path-prefix {self.prefix!r}: no . or .. segment, and not under "
                "/_publisher (an edge never serves it)"
            )

    def path(self, key: str) -> str:
        """The URL path of `key`'s document at the edge."""
        return f"{self.prefix}/config/{key}"

    @property
    def wildcard(self) -> str:
        """Every document's path at once (a CloudFront invalidation of many)."""
        return f"{self.prefix}/config/*"


class CdnKind(StrEnum):
    """Which CDN to purge after a publish."""

    none = "none"
    cloudfront = "cloudfront"
    http_purge = "http-purge"


@dataclass(frozen=True)
class CdnSettings:
    """Which CDN to purge and how."""

    kind: CdnKind = CdnKind.none
    distribution_id: str | None = None
    """CloudFront: the distribution."""
    invalidation_threshold: int = DEFAULT_INVALIDATION_THRESHOLD
    """CloudFront: above this many paths, invalidate one wildcard."""
    wait: bool = False
    """CloudFront: wait until the invalidation completes."""
    purge_urls: tuple[str, ...] = ()
    """http-purge: the edges' base URLs."""
    edge_paths: EdgePaths = EdgePaths()
    """Where the edge serves each document: purges, edge waits and verify name these."""
    wait_edges: tuple[str, ...] = ()
    """After the purge, poll each of these edges until it serves every changed document."""
    wait_timeout: float = 60.0
    """How long `wait_edges` waits, in seconds, before the edge counts as stale."""
