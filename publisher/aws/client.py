"""The one module that makes sessions and clients: retries, timeouts and a sized pool."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import botocore.exceptions as bex
import botocore.handlers
import botocore.session
from botocore.config import Config

from ..errors import UsageError
from ..redact import printable, url_for_display
from .errors import without_secrets
from .listing import install as install_quick_listing


@dataclass(frozen=True)
class AwsOptions:
    """How to reach the store: all optional, the standard boto3 chain fills the rest."""

    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    retry_mode: str = "standard"
    max_attempts: int = 5
    pool_size: int = 32
    connect_timeout: float = 10
    read_timeout: float = 60


def session_and_region(options: AwsOptions) -> tuple[Any, str]:
    """A botocore session (boto3's own core: importing boto3 would add 0.05 s to every
    run and nothing used here) and the region to use."""
    try:
        session = botocore.session.Session(profile=options.profile)
        # Timestamps stay text: nothing here reads one, and parsing each LastModified
        # (dateutil) was three quarters of the CPU a listing costs (86 → 22 ms a page).
        factory = session.get_component("response_parser_factory")
        factory.set_parser_defaults(timestamp_parser=str)
        region = options.region or session.get_config_variable("region") or "us-east-1"
        return session, region
    except bex.ConfigParseError as exc:
        raise UsageError(f"the AWS configuration: {exc}") from None
    except bex.ProfileNotFound:
        raise UsageError(
            f"--profile {options.profile}: no such profile in the AWS config"
        ) from None


_REGION = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?")  # botocore's own rule


def _shown(url: str) -> str:
    try:
        return url_for_display(url) if "://" in url else printable(url)
    except ValueError:
        return "(an invalid URL)"


def check_options(options: AwsOptions) -> None:
    """Raise a usage error for an endpoint or region botocore would choke on."""
    if options.endpoint_url is not None:
        url = options.endpoint_url
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018  (raises for a bad port)
            valid = (
                parts.scheme in ("http", "https")
                and bool(parts.hostname)
                and url.isascii()
                and not any(c.isspace() or c < " " for c in url)
            )
        except ValueError:
            valid = False
        if not valid:
            raise UsageError(
                f"--endpoint-url {_shown(url)}: give a whole URL such as "
                "https://s3.example.com or http://127.0.0.1:5000"
            )
        if parts.username or parts.password or parts.query or parts.fragment:
            raise UsageError(
                f"--endpoint-url {_shown(url)}: no credentials, query or fragment in it; "
                "credentials come from the AWS chain (AWS_ACCESS_KEY_ID, --profile)"
            )
    if options.region is not None and not _REGION.fullmatch(options.region):
        raise UsageError(
            f"--region {printable(options.region)!r}: not a region name such as eu-west-1"
        )


def client(service: str, options: AwsOptions) -> Any:
    """Return a botocore client with retries for throttling and 5xx and a sized pool."""
    check_options(options)
    config = Config(
        retries={"mode": options.retry_mode, "max_attempts": options.max_attempts},
        # Documents carry Content-MD5 (S3 checks it, and it is the ETag we compare), so
        # no CRC32 trailer and aws-chunked framing, which some S3-compatible stores reject.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        max_pool_connections=options.pool_size,
        connect_timeout=options.connect_timeout,
        read_timeout=options.read_timeout,
        s3={"addressing_style": "path"} if options.endpoint_url else None,
    )
    session, region = session_and_region(options)
    try:
        made = session.create_client(
            service, endpoint_url=options.endpoint_url, region_name=region, config=config
        )
    except bex.BotoCoreError as exc:  # a bad region or config file in the environment
        raise UsageError(f"the AWS configuration: {without_secrets(str(exc))}") from None
    if service == "s3":
        # `Expect: 100-continue` costs a round trip per PUT; it pays off only for bodies
        # far larger than a document (at most a few MiB).
        made.meta.events.unregister("before-call.s3", botocore.handlers.add_expect_header)
        install_quick_listing(made.meta.events)
    return made
