"""Document PUTs in native code: obstore (Python's binding of Rust's object_store) sends
each request outside the interpreter lock; the caller's threads send side by side.

botocore costs about 1 ms of CPU per request in the interpreter; here a PUT costs about
a tenth of that, so uploads are no longer held to one core (see bench/README.md). The
same credentials (botocore's chain: environment, profile, SSO, instance role), region,
endpoint, timeouts and retry budget as the botocore client; everything else (the lock,
listings, bookkeeping, CloudFront) stays on botocore. Each body is signed (SigV4 over its
sha256), so the store refuses one that arrives altered, as Content-MD5 does on botocore.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from ..errors import PublisherError, StorageError
from ..redact import redact_paths
from .client import AwsOptions, session_and_region
from .errors import no_credentials, translate


def available() -> bool:
    """True when obstore is installed (a wheel exists for every common platform)."""
    try:
        import obstore  # noqa: F401
    except ImportError:
        return False
    return True


class NativeUploads:
    """PUTs to one bucket, callable from many threads at once."""

    def __init__(self, bucket: str, options: AwsOptions, endpoint_shown: str) -> None:
        from obstore.store import S3Store

        session, region = session_and_region(options)
        endpoint = options.endpoint_url
        provider: Any = _credentials(session)
        where: Any = {"endpoint": endpoint} if endpoint else {}
        self._where, self._endpoint = f"bucket {bucket}", endpoint_shown
        self._store = S3Store(
            bucket,
            region=region,
            virtual_hosted_style_request=endpoint is None,
            credential_provider=provider,
            client_options={
                "allow_http": bool(endpoint and endpoint.startswith("http://")),
                "connect_timeout": f"{options.connect_timeout:g}s",
                "timeout": f"{options.read_timeout:g}s",
            },
            retry_config={
                "max_retries": max(0, options.max_attempts - 1),
                "retry_timeout": timedelta(seconds=options.read_timeout * options.max_attempts),
                "backoff": {
                    "init_backoff": timedelta(milliseconds=100),
                    "max_backoff": timedelta(seconds=20),
                    "base": 2,
                },
            },
            **where,
        )

    def put(self, key: str, body: bytes, attributes: dict[str, str]) -> str:
        """Put one object and return its ETag; the interpreter lock is released while the
        request is out, so the caller's threads send side by side."""
        import obstore

        try:
            done = obstore.put(self._store, key, body, attributes=attributes, use_multipart=False)
        except Exception as exc:
            raise translate_native(exc, self._where, self._endpoint) from None
        return str(done["e_tag"] or "").strip('"')


def _credentials(session: Any) -> Callable[[], dict[str, Any]]:
    """obstore asks for credentials when it signs; botocore's chain answers (and renews
    those that expire: asked again within five minutes)."""
    try:
        found = session.get_credentials()
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


def translate_native(exc: Exception, where: str, endpoint: str) -> PublisherError:
    """One line that says the fix, as for botocore's errors; never the object's path (it
    holds an API key) nor the response body beyond its error code."""
    if isinstance(exc, PublisherError):
        return exc
    text = str(exc)
    status = _STATUS.search(text)
    code = _CODE.search(text)
    name = type(exc).__name__
    if code and code[1] == "NoSuchBucket":
        return StorageError(
            f"{where} does not exist at {endpoint}: create it "
            "(publisher init-bucket --create) or check the name and --endpoint-url"
        )
    if name in ("PermissionDeniedError", "UnauthenticatedError") or (status and status[1] == "403"):
        return StorageError(
            f"access denied to {where}: the credentials need s3:ListBucket, s3:GetObject, "
            "s3:PutObject and s3:DeleteObject on it"
        )
    if status is None and ("connect" in text.lower() or "dns" in text.lower()):
        return StorageError(f"cannot reach {endpoint}: check --endpoint-url and the network")
    what = code[1] if code else (status[1] if status else name)
    return StorageError(redact_paths(f"{where}: {what}"))
