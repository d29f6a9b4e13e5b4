"""The store, resolved once the way the AWS CLI resolves it; every client is built from it.

Endpoint (the flag, then `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, the profile's
`services` section and its `endpoint_url`), region, profile, credentials, CA bundle
(`AWS_CA_BUNDLE` or the profile's `ca_bundle`), retry mode and attempts
(`AWS_RETRY_MODE`, `AWS_MAX_ATTEMPTS` or the profile's) are looked up here and nowhere
else. Addressing (path or virtual-hosted, the profile's `s3.addressing_style`, path
style for dotted bucket names over https) is botocore's: the native uploads are aimed
at the very URL botocore's client gives an object (`native.py`), never worked out
again on their own.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import botocore
import botocore.exceptions as bex
import botocore.handlers
import botocore.loaders
import botocore.session
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.utils import ensure_boolean

from ..errors import UsageError
from ..redact import printable
from ..retry import STORE
from .listing import install as install_quick_listing
from .options import AwsOptions, check_endpoint, check_options, check_pem, shown_url
from .translate import credentials_failed, without_secrets

DEFAULT_RETRY_MODE = "standard"
DEFAULT_MAX_ATTEMPTS = STORE.attempts
RETRY_MODES = ("standard", "adaptive", "legacy")


@dataclass(frozen=True)
class Setting:
    """A resolved value and where it came from (a flag, a variable, the config file)."""

    value: str | None
    source: str


_UNREAD: Any = object()
_LOADERS: dict[str | None, Any] = {}


def _loader(data_path: str | None) -> Any:
    """botocore's loader of service models (as the session would make it, AWS_DATA_PATH
    included), one for the process: a second client (the CloudFront purge's, a second
    target's) reads no model file again."""
    if data_path not in _LOADERS:
        _LOADERS[data_path] = botocore.loaders.create_loader(data_path)
    return _LOADERS[data_path]


class Store:
    """One resolution of how to reach S3 (or an S3-compatible store), and its clients."""

    def __init__(self, options: AwsOptions) -> None:
        check_options(options)
        self.options = options
        self._credentials: Any = _UNREAD
        try:
            self.session = botocore.session.Session(profile=options.profile)
            data_path = self.session.get_config_variable("data_path")
            self.session.register_component("data_loader", _loader(data_path))
            # Timestamps stay text: nothing here reads one, and parsing each LastModified
            # (dateutil) was three quarters of the CPU a listing costs.
            factory = self.session.get_component("response_parser_factory")
            factory.set_parser_defaults(timestamp_parser=str)
            self.endpoint = self._endpoint()
            self.region = self._region()
            self.ca_bundle = self._ca_bundle()
            self.retry_mode = self._retry_mode()
            self.max_attempts = self._max_attempts()
        except bex.ConfigParseError as exc:
            raise UsageError(f"the AWS configuration: {without_secrets(str(exc))}") from None
        except bex.ProfileNotFound as exc:
            name = printable(str(exc.kwargs.get("profile", "")))
            raise UsageError(
                f"{_profile_named(options, name)}: no such profile in the AWS config"
            ) from None
        except bex.BotoCoreError as exc:  # e.g. a services section the profile names is missing
            raise UsageError(f"the AWS configuration: {without_secrets(str(exc))}") from None

    # what the configuration says

    def _config(self, name: str) -> Any:
        return self.session.get_config_variable(name)

    def _profile_name(self) -> str:
        return self.options.profile or self.session.profile or "default"

    def _endpoint(self) -> Setting:
        """The S3 endpoint as botocore looks it up (None: AWS itself)."""
        if self.options.endpoint_url is not None:
            return Setting(self.options.endpoint_url, "--endpoint-url")
        found = self._configured_endpoint()
        if found.value is not None:
            check_endpoint(found.value, found.source)
        return found

    def _configured_endpoint(self) -> Setting:
        if ensure_boolean(self._config("ignore_configured_endpoint_urls") or False):
            return Setting(None, "AWS S3")
        for name in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"):
            if os.environ.get(name):
                return Setting(os.environ[name], name)
        scoped = self.session.get_scoped_config()
        profile = self._profile_name()
        if "services" in scoped:
            section = scoped["services"]
            services = self.session.full_config.get("services", {}).get(section)
            if not services:
                raise UsageError(
                    f"the AWS config: profile {printable(profile)} names services section "
                    f"{printable(str(section))!r}, which does not exist"
                )
            value = services.get("s3")  # as botocore: only the service's own subsection
            if isinstance(value, dict) and value.get("endpoint_url"):
                where = f"[services {section}] s3 endpoint_url in the AWS config"
                return Setting(str(value["endpoint_url"]), where)
        if scoped.get("endpoint_url"):
            where = f"endpoint_url of profile {printable(profile)} in the AWS config"
            return Setting(str(scoped["endpoint_url"]), where)
        return Setting(None, "AWS S3")

    def _region(self) -> str:
        return self.options.region or self._config("region") or "us-east-1"

    def _ca_bundle(self) -> Setting:
        """The CA bundle botocore trusts for https, if one is configured (AWS_CA_BUNDLE, the
        profile's ca_bundle, else REQUESTS_CA_BUNDLE, as botocore looks); it must be a
        readable PEM file."""
        path = self._config("ca_bundle")
        if path:
            source = (
                "AWS_CA_BUNDLE"
                if os.environ.get("AWS_CA_BUNDLE")
                else f"ca_bundle of profile {printable(self._profile_name())} in the AWS config"
            )
        elif os.environ.get("REQUESTS_CA_BUNDLE"):
            path, source = os.environ["REQUESTS_CA_BUNDLE"], "REQUESTS_CA_BUNDLE"
        else:
            return Setting(None, "")
        check_pem(str(path), source)
        return Setting(str(path), source)

    def _retry_mode(self) -> str:
        mode = self.options.retry_mode or self._config("retry_mode") or DEFAULT_RETRY_MODE
        if mode not in RETRY_MODES:
            raise UsageError(
                f"retry mode {printable(str(mode))!r} (AWS_RETRY_MODE or the profile's "
                f"retry_mode): use one of {', '.join(RETRY_MODES)}"
            )
        return str(mode)

    def _max_attempts(self) -> int:
        if self.options.max_attempts is not None:
            return self.options.max_attempts
        try:
            given = self._config("max_attempts")
            found = DEFAULT_MAX_ATTEMPTS if given is None else int(given)
        except (TypeError, ValueError):
            found = 0
        if not 1 <= found <= 100:
            raise UsageError(
                "max_attempts (AWS_MAX_ATTEMPTS or the profile's): give a whole number "
                "from 1 to 100"
            )
        return found

    # what it says, shown

    @property
    def shown(self) -> str:
        """The endpoint as messages name it: scheme, host and path, or `AWS S3`."""
        url = self.endpoint.value
        return shown_url(url) if url else "AWS S3"

    @property
    def setting(self) -> str:
        """What to check when the endpoint cannot be reached: where it was set."""
        return self.endpoint.source if self.endpoint.value else "--endpoint-url"

    def describe(self) -> list[str]:
        """One line per resolved setting and its source, for `-v` (no credential)."""
        endpoint = f"{self.shown} ({self.endpoint.source})" if self.endpoint.value else "AWS S3"
        lines = [f"endpoint {endpoint}", f"region {self.region}"]
        if self.ca_bundle.value:
            lines.append(f"CA bundle {printable(self.ca_bundle.value)} ({self.ca_bundle.source})")
        lines.append(f"retries {self.retry_mode}, {self.max_attempts} attempts")
        return lines

    # clients

    def client(self, service: str = "s3") -> Any:
        """A botocore client of this resolution: retries for throttling and 5xx, a sized
        pool, the CA bundle; for S3 the resolved endpoint."""
        self.credentials()  # loaded (and refused with one line) before the client needs them
        options = self.options
        config = Config(
            retries={"mode": self.retry_mode, "total_max_attempts": self.max_attempts},
            # No CRC32 trailer and aws-chunked framing (some S3-compatible stores reject
            # them): document PUTs carry Content-MD5 on this client.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            max_pool_connections=options.pool_size,
            connect_timeout=options.connect_timeout,
            read_timeout=options.read_timeout,
        )
        try:
            made = self.session.create_client(
                service,
                endpoint_url=self.endpoint.value if service == "s3" else None,
                region_name=self.region,
                verify=self.ca_bundle.value,
                config=config,
            )
        except bex.BotoCoreError as exc:  # a bad region or config file in the environment
            raise UsageError(f"the AWS configuration: {without_secrets(str(exc))}") from None
        except ValueError as exc:  # a host name botocore refuses (my_minio, a..b)
            if service != "s3" or not self.endpoint.value:
                raise UsageError(f"the AWS configuration: {without_secrets(str(exc))}") from None
            raise UsageError(
                f"{self.endpoint.source} {self.shown}: not a host name botocore accepts "
                "(letters, digits, '-' and '.' between them; an IP address)"
            ) from None
        if service == "s3":
            # `Expect: 100-continue` costs a round trip per PUT; it pays off only for
            # bodies far larger than a document (at most a few MiB).
            made.meta.events.unregister("before-call.s3", botocore.handlers.add_expect_header)
            install_quick_listing(made.meta.events)
            made.meta.events.register_first("before-send.s3.PutObject", _answer_aim)
        return made

    def object_url(self, bucket: str, folder: str) -> str:
        """The URL of `folder` of `bucket` as this store's requests address it (endpoint,
        path or virtual-hosted): the origin a cache in front fetches from. Nothing is sent,
        and no credential is needed."""
        made = self.session.create_client(
            "s3",
            endpoint_url=self.endpoint.value,
            region_name=self.region,
            config=Config(signature_version=botocore.UNSIGNED),
        )
        made.meta.events.register_first("before-send.s3.PutObject", _answer_aim)
        return aim(made, bucket, folder).url.removesuffix(AIM)

    def credentials(self) -> Any:
        """botocore's credentials (environment, profile, SSO, instance role), loaded and
        checked once; None where the chain has none."""
        if self._credentials is _UNREAD:
            self._credentials = self._load_credentials()
        return self._credentials

    def _load_credentials(self) -> Any:
        try:
            found = self.session.get_credentials()
            if found is not None:
                found.get_frozen_credentials()  # a process run, a token refreshed: now
        except bex.PartialCredentialsError as exc:  # says which variable is missing
            raise UsageError(f"the AWS configuration: {without_secrets(str(exc))}") from None
        except Exception as exc:  # a credential_process printing garbage, an SSO token
            raise credentials_failed(exc, self._profile_name()) from None
        return found


AIM = ".publisher-aim"
"""The name of the object `aim` asks botocore to PUT: the request is made, signed and
answered here, never sent."""
_AIM_URL = "x-publisher-aim-url"


class _Empty:
    def stream(self) -> list[bytes]:
        return [b""]


def _answer_aim(request: Any, **_: Any) -> AWSResponse | None:
    """Answer the PUT of an `AIM` object without sending it, with the URL it was for and
    the region it was signed for (botocore's, after any redirect it learned)."""
    if not urlsplit(request.url).path.endswith("/" + AIM):
        return None  # every other request goes out
    signed = _SCOPE.search(str(request.headers.get("Authorization", "")))
    headers = {"ETag": '"0"', _AIM_URL: request.url, _AIM_REGION: signed[1] if signed else ""}
    return AWSResponse(request.url, 200, headers, _Empty())


_SCOPE = re.compile(r"Credential=[^/,]+/\d{8}/([^/,]+)/s3/aws4_request")
_AIM_REGION = "x-publisher-aim-region"


@dataclass(frozen=True)
class Aim:
    """Where botocore's client sends an object, as a request is made: its URL, its key,
    and the region it is signed for."""

    url: str
    key: str
    region: str


def aim(s3: Any, bucket: str, folder: str) -> Aim:
    """Where botocore's client `s3` sends an object of `bucket` in `folder` (endpoint
    rules, addressing, the bucket's place and region; a presigned URL may differ: it names
    S3's global endpoint). Nothing is sent."""
    key = f"{folder}{AIM}"
    try:
        answer = s3.put_object(Bucket=bucket, Key=key, Body=b"")
    except Exception as exc:
        from .translate import translate

        raise translate(exc, f"bucket {bucket}", "the store") from None
    headers = answer["ResponseMetadata"]["HTTPHeaders"]
    return Aim(str(headers[_AIM_URL]), key, str(headers.get(_AIM_REGION) or ""))


def _profile_named(options: AwsOptions, name: str) -> str:
    """The profile's name with where it came from: `--profile x`, `AWS_PROFILE x`, or
    `profile x (publisher.toml [targets.live])`."""
    if not options.profile:
        return f"{'AWS_PROFILE' if os.environ.get('AWS_PROFILE') else 'AWS_DEFAULT_PROFILE'} {name}"
    source = options.profile_source
    return (
        f"{source} {name}"
        if source.startswith(("-", "PUBLISHER_", "AWS_"))
        else f"profile {name} ({source})"
    )
