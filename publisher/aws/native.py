"""Document PUTs in native code: obstore (Python's binding of Rust's object_store) sends
each request outside the interpreter lock; the caller's threads send side by side.

As s3transfer's native path does, the uploads take their aim from botocore: the store's
one resolution (`store.py`) makes the botocore client, that client gives the URL of an
object (endpoint, path or virtual-hosted addressing, the bucket's place), and obstore is
set to that same URL, with the same credentials, region, CA bundle, timeouts and retry
budget. Every setting obstore would otherwise take from the environment on its own
(`AWS_ENDPOINT_URL_S3`, `AWS_SKIP_SIGNATURE`, ...) is given explicitly, and the URL
obstore then signs for an object is compared with botocore's before any upload: where
they differ, or obstore cannot honour a setting (adaptive retries, variables only
obstore reads), `native_uploads` says why and the documents go through botocore.

Integrity: each body is signed (SigV4 over its sha256, `x-amz-content-sha256`), so the
store refuses one that arrives altered, as Content-MD5 does on the botocore path.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

from ..errors import PublisherError, StorageError
from ..redact import redact_paths
from ..retry import STORE
from .store import Aim, Store, aim
from .translate import no_credentials, tls_failed, translate

log = logging.getLogger(__name__)

OBSTORE_ONLY = (
    "AWS_SERVER_SIDE_ENCRYPTION",
    "AWS_SSE_KMS_KEY_ID",
    "AWS_SSE_BUCKET_KEY_ENABLED",
    "AWS_SSE_CUSTOMER_KEY_BASE64",
    "AWS_CHECKSUM_ALGORITHM",
    "AWS_REQUEST_PAYER",
)
"""Variables obstore reads and botocore does not, which would change what a document PUT
carries: where one is set, botocore sends the documents, as it sends everything else."""


def available() -> bool:
    """True when obstore is installed (a wheel exists for every common platform)."""
    try:
        import obstore  # noqa: F401
    except ImportError:
        return False
    return True


class NativeUploads:
    """PUTs to one bucket, callable from many threads at once."""

    def __init__(self, store: Any, where: str, endpoint: str, setting: str) -> None:
        self._store = store
        self._where, self._endpoint, self._setting = where, endpoint, setting

    def put(self, key: str, body: bytes, attributes: dict[str, str]) -> str:
        """Put one object and return its ETag; the interpreter lock is released while the
        request is out, so the caller's threads send side by side."""
        import obstore

        try:
            done = obstore.put(self._store, key, body, attributes=attributes, use_multipart=False)
        except Exception as exc:
            raise translate_native(exc, self._where, self._endpoint, self._setting) from None
        return str(done["e_tag"] or "").strip('"')


def native_uploads(store: Store, s3: Any, bucket: str, folder: str) -> NativeUploads | None:
    """Native uploads aimed where botocore's client `s3` sends an object of `bucket` in
    `folder`; None (and why, in the log) where obstore cannot be made to send them there
    as botocore would."""
    reason = _cannot(store)
    if reason is None:
        where = aim(s3, bucket, folder)
        try:
            made = _obstore(store, bucket, where, proxy_for(s3, where.url))
            reason = _differs(made, where) or _probe_tls(store, made, where)
        except Exception as exc:  # obstore refused a setting: a CA file it cannot read
            reason = f"obstore refused the configuration ({_first_words(exc)})"
    if reason is not None:
        log.info("uploading the documents with botocore: %s", reason)
        return None
    log.info("uploading the documents natively (obstore) to %s", store.shown)
    return NativeUploads(made, f"bucket {bucket}", store.shown, store.setting)


def _cannot(store: Store) -> str | None:
    """Why obstore cannot honour this resolution, or None."""
    if not available():
        return "obstore is not installed"
    if store.retry_mode == "adaptive":
        return "retry mode adaptive (a client-side rate limit only botocore has)"
    for name in OBSTORE_ONLY:
        if os.environ.get(name):
            return f"{name} is set, which botocore does not read"
    return None


def _differs(made: Any, where: Aim) -> str | None:
    if _base(signed_url(made, where.key)) != _base(where.url):
        return "the native client would address another URL than botocore's"
    return None


def _probe_tls(store: Store, made: Any, where: Aim) -> str | None:
    """Where a CA bundle of one's own is trusted over https, one request (a HEAD, answered
    404) says whether obstore's TLS accepts the store's certificate as botocore's does (a
    self-signed certificate marked as a CA, say, it refuses)."""
    import obstore

    if not (store.ca_bundle.value and where.url.startswith("https://")):
        return None
    try:
        obstore.head(made, where.key)
    except FileNotFoundError:
        return None
    except Exception as exc:
        if _TLS.search(_chain(exc)):
            return f"obstore's TLS refuses the store's certificate ({_first_words(exc)})"
    return None


class Endpoint:
    """The endpoint and addressing obstore is given to reach botocore's URL."""

    def __init__(self, url: str, bucket: str, key: str) -> None:
        parts = urlsplit(url)
        base = unquote(parts.path).removesuffix("/" + key)
        origin = f"{parts.scheme}://{parts.netloc}"
        self.host = parts.hostname or ""
        # path style: the bucket is the path's first part; virtual-hosted: in the host
        self.virtual_hosted = not base.endswith("/" + bucket)
        self.url = origin + (base if self.virtual_hosted else base.removesuffix("/" + bucket))


def proxy_for(s3: Any, url: str) -> str | None:
    """The proxy botocore's client sends `url` through: it looks once, for its endpoint,
    at HTTP_PROXY, HTTPS_PROXY and NO_PROXY as Python's urllib reads them."""
    from botocore.utils import get_environ_proxies

    found = get_environ_proxies(s3.meta.endpoint_url).get(urlsplit(url).scheme)
    return str(found) if found else None


def _obstore(store: Store, bucket: str, where: Aim, proxy: str | None) -> Any:
    from obstore.store import S3Store

    options = store.options
    endpoint = Endpoint(where.url, bucket, where.key)
    client: dict[str, Any] = {
        "allow_http": endpoint.url.startswith("http://"),
        "connect_timeout": f"{options.connect_timeout:g}s",
        "timeout": f"{options.read_timeout:g}s",
        # botocore's choice of proxy, not reqwest's own reading of the variables: its
        # proxy, or (to go direct) one that the store's host is excluded from.
        "proxy_url": proxy or "http://127.0.0.1:9",
        **({} if proxy else {"proxy_excludes": endpoint.host}),
    }
    if store.ca_bundle.value and endpoint.url.startswith("https://"):
        with open(store.ca_bundle.value, "rb") as pem:
            client["root_certificate"] = pem.read()
    provider: Any = _credentials(store)
    given: Any = client
    return S3Store(
        bucket,
        # Each given, so that nothing is taken from obstore's own reading of the environment.
        endpoint=endpoint.url,
        aws_endpoint_url_s3=endpoint.url,
        virtual_hosted_style_request=endpoint.virtual_hosted,
        region=where.region or store.region,  # botocore's, after a redirect it followed
        skip_signature=False,
        unsigned_payload=False,
        s3_express=False,
        credential_provider=provider,
        client_options=given,
        retry_config={
            "max_retries": max(0, store.max_attempts - 1),
            "retry_timeout": timedelta(seconds=options.read_timeout * store.max_attempts),
            "backoff": {
                "init_backoff": timedelta(seconds=STORE.first),
                "max_backoff": timedelta(seconds=STORE.most),
                "base": STORE.factor,
            },
        },
    )


def signed_url(made: Any, key: str) -> str:
    """The URL obstore would send a PUT of `key` to (signed locally, nothing sent)."""
    import obstore

    try:
        return str(obstore.sign(made, "PUT", key, timedelta(minutes=1)))
    except Exception as exc:
        raise translate_native(exc, "the native uploads", "the store", "--endpoint-url") from None


def _base(url: str) -> tuple[str, str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc.lower(), unquote(parts.path)


def _credentials(store: Store) -> Callable[[], dict[str, Any]]:
    """obstore asks for credentials when it signs; botocore's chain answers (and renews
    those that expire: asked again within five minutes)."""
    try:
        found = store.credentials()
    except Exception as exc:  # partial credentials, a failing credential_process, ...
        raise translate(exc, "the credentials", "AWS") from None
    if found is None:
        raise no_credentials()

    def provide() -> dict[str, Any]:
        frozen = found.get_frozen_credentials()
        renews = hasattr(found, "refresh_needed")
        return {
            "access_key_id": frozen.access_key,
            "secret_access_key": frozen.secret_key,
            "token": frozen.token,
            "expires_at": datetime.now(UTC) + timedelta(minutes=5) if renews else None,
        }

    return provide


_STATUS = re.compile(r"status code: (\d{3})")
_CODE = re.compile(r"<Code>([A-Za-z]+)</Code>")
_TLS = re.compile(r"certificate|UnknownIssuer|tls|ssl", re.I)
_QUERY = re.compile(r"\?\S*")  # a signed URL's query names the access key id


def translate_native(exc: Exception, where: str, endpoint: str, setting: str) -> PublisherError:
    """One line that says what was refused and the fix, as for botocore's errors; never the
    object's path (it holds an API key) nor the response body beyond its error code."""
    if isinstance(exc, PublisherError):
        return exc
    text = _chain(exc)
    status = _STATUS.search(text)
    code = _CODE.search(text)
    name = type(exc).__name__
    if code and code[1] == "NoSuchBucket":
        return StorageError(
            f"{where} does not exist at {endpoint}: create it "
            f"(publisher init-bucket --create) or check the name and {setting}"
        )
    if name in ("PermissionDeniedError", "UnauthenticatedError") or (status and status[1] == "403"):
        return StorageError(
            f"access denied to {where}: the credentials need s3:ListBucket, s3:GetObject, "
            "s3:PutObject and s3:DeleteObject on it"
        )
    if status is None and _TLS.search(text):
        return tls_failed(text, endpoint, setting)
    if status is None and ("connect" in text.lower() or "dns" in text.lower()):
        return StorageError(f"cannot reach {endpoint}: check {setting} and the network")
    if code or status:
        what = code[1] if code else f"HTTP {status[1] if status else ''}"
        return StorageError(f"{where}: the store answered {what}")
    return StorageError(f"{where}: the upload failed ({_first_words(exc)})")


def _first_words(exc: BaseException, most: int = 200) -> str:
    """The error's name and the first line of its text, without a path's API key or a
    signed URL's query, cut at a word."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = _QUERY.sub("", redact_paths(text))
    if len(text) > most:
        text = text[:most].rsplit(" ", 1)[0] + " …"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _chain(exc: BaseException) -> str:
    """The error's text with its causes': the root cause (a refused certificate, a
    refused connection) is often only there."""
    texts, seen = [], 0
    cause: BaseException | None = exc
    while cause is not None and seen < 8:
        texts.append(str(cause))
        cause, seen = cause.__cause__ or cause.__context__, seen + 1
    return " | ".join(texts)
