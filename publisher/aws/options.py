"""What a caller says about the store (`AwsOptions`), and the checks a given value must
pass before it is used: a whole http(s) URL, a region name."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from ..errors import UsageError
from ..names import REGION_NAME
from ..redact import printable, url_for_display


@dataclass(frozen=True)
class AwsOptions:
    """What the command line or a caller says about the store; the AWS configuration
    (environment, config file, profile) fills in everything left None."""

    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    retry_mode: str | None = None
    max_attempts: int | None = None
    pool_size: int = 32
    connect_timeout: float = 10
    read_timeout: float = 60
    profile_source: str = "--profile"
    """Where `profile` was set (a flag, a variable, the project file), for messages."""


def shown_url(url: str) -> str:
    try:
        return url_for_display(url) if "://" in url else printable(url)
    except ValueError:
        return "(an invalid URL)"


def check_endpoint(url: str, source: str) -> None:
    """Raise a usage error for an endpoint URL botocore would choke on or misuse."""
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
            f"{source} {shown_url(url)}: give a whole URL such as "
            "https://s3.example.com or http://127.0.0.1:5000"
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise UsageError(
            f"{source} {shown_url(url)}: no credentials, query or fragment in it; "
            "credentials come from the AWS chain (AWS_ACCESS_KEY_ID, --profile)"
        )


def check_options(options: AwsOptions) -> None:
    """Raise a usage error for a flag's endpoint or region botocore would choke on."""
    if options.endpoint_url is not None:
        check_endpoint(options.endpoint_url, "--endpoint-url")
    if options.region is not None and not REGION_NAME.fullmatch(options.region):
        raise UsageError(
            f"--region {printable(options.region)!r}: not a region name such as eu-west-1"
        )


def check_pem(path: str, source: str) -> None:
    """Raise a usage error unless `path` is a readable file holding a PEM certificate."""
    try:
        with open(path, "rb") as file:
            text = file.read(8 << 20)
    except OSError:
        text = None
    if text is None or b"-----BEGIN" not in text or b"CERTIFICATE-----" not in text:
        raise UsageError(
            f"{source} {printable(path)}: no readable PEM certificate there: give the path "
            "of the PEM file of the CA that signed the store's certificate"
        )
