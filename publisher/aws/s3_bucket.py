"""S3 calls the publisher makes, on a client it is handed; botocore errors become ours."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import PublisherError
from .translate import (
    ClientError,
    error_code,
    http_status,
    is_not_implemented,
    is_precondition_failed,
    translate,
)


@dataclass(frozen=True)
class Headers:
    """What an object is put with: its type, caching, user metadata and (botocore's
    check of the body on the way) its MD5."""

    content_type: str
    cache_control: str
    metadata: Mapping[str, str] = field(default_factory=dict)
    md5_hex: str | None = None


BOOKKEEPING = Headers("application/json", "no-store")
"""The headers of a file under _publisher/: never cached."""


@dataclass(frozen=True)
class Object:
    key: str
    etag: str
    body: bytes | None = None
    too_large: bool = False
    """Over the limit its reader gave (found by its length): the body was not read."""


class S3Bucket:
    """The S3 calls the target makes, each translating errors to ours."""

    def __init__(
        self, s3: Any, bucket: str, endpoint: str, setting: str = "--endpoint-url"
    ) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.endpoint = endpoint
        self.setting = setting
        """Where the endpoint was set, for the hint of an error (see Store.setting)."""
        self.round_trips: list[float] = []
        """Seconds each GET took: how far the store is (see auto_concurrency)."""

    def _fail(self, exc: Exception) -> PublisherError:
        return translate(exc, f"bucket {self.bucket}", self.endpoint, self.setting)

    def list_objects(
        self, prefix: str, after: str | None = None, upto: str | None = None
    ) -> Iterator[Object]:
        """Yield every object under `prefix` from paged ListObjectsV2 calls; with `after`
        and `upto`, only names (after the prefix) in the range (after, upto]."""
        start = {"StartAfter": prefix + after} if after is not None else {}
        last = None if upto is None else prefix + upto
        try:
            pages = self.s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix, **start
            )
            for page in pages:
                for item in page.get("Contents", []):
                    if last is not None and item["Key"] > last:
                        return  # the next range's: it lists them itself
                    yield Object(item["Key"], item["ETag"].strip('"'))
        except Exception as exc:
            raise self._fail(exc) from None

    def list_page(
        self, prefix: str, after: str | None = None
    ) -> tuple[list[tuple[str, str]], bool]:
        """One ListObjectsV2 page under `prefix` of names after `after` (a name under the
        prefix): (name, ETag) of each object, names without the prefix; and whether more
        follow."""
        start = {"StartAfter": prefix + after} if after is not None else {}
        try:
            page = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=prefix, **start)
        except Exception as exc:
            raise self._fail(exc) from None
        cut = len(prefix)
        found = [(o["Key"][cut:], o["ETag"].strip('"')) for o in page.get("Contents", [])]
        return found, bool(page.get("IsTruncated"))

    def get(self, key: str, limit: int) -> Object | None:
        """The object at `key`, its body if it holds at most `limit` bytes (else none is
        read, and `too_large` says so); None if absent."""
        start = time.perf_counter()
        try:
            response = self.s3.get_object(Bucket=self.bucket, Key=key)
            body, etag = response["Body"], response["ETag"].strip('"')
            try:
                if int(response.get("ContentLength") or 0) > limit:
                    return Object(key, etag, b"", too_large=True)
                data = body.read(limit + 1)
            finally:
                body.close()
            return Object(key, etag, data, too_large=len(data) > limit)
        except ClientError as exc:
            if error_code(exc) in ("NoSuchKey", "404") or (
                http_status(exc) == 404 and error_code(exc) != "NoSuchBucket"
            ):
                return None
            raise self._fail(exc) from None
        except Exception as exc:
            raise self._fail(exc) from None
        finally:
            self.round_trips.append(time.perf_counter() - start)

    def unchanged(self, key: str, etag: str) -> bool:
        """True when the object still has `etag`: a conditional HEAD, answered 304."""
        try:
            self.s3.head_object(Bucket=self.bucket, Key=key, IfNoneMatch=f'"{etag}"')
            return False
        except ClientError as exc:
            if http_status(exc) == 304 or error_code(exc) in ("304", "NotModified"):
                return True
            if http_status(exc) == 404 and error_code(exc) != "NoSuchBucket":
                return False
            raise self._fail(exc) from None
        except Exception as exc:
            raise self._fail(exc) from None

    def metadata(self, key: str) -> dict[str, str] | None:
        """Return an object's user metadata (HEAD), or None when there is no object."""
        try:
            response = self.s3.head_object(Bucket=self.bucket, Key=key)
            return {str(k): str(v) for k, v in response.get("Metadata", {}).items()}
        except ClientError as exc:
            if http_status(exc) == 404 and error_code(exc) != "NoSuchBucket":
                return None
            raise self._fail(exc) from None
        except Exception as exc:
            raise self._fail(exc) from None

    def put(
        self,
        key: str,
        body: bytes,
        headers: Headers,
        *,
        if_none_match: bool = False,
        if_match: str | None = None,
    ) -> str:
        """Put one object; with a condition, a failed precondition raises it unchanged."""
        args: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": key,
            "Body": body,
            "ContentType": headers.content_type,
            "CacheControl": headers.cache_control,
            "Metadata": dict(headers.metadata),
        }
        if headers.md5_hex:
            args["ContentMD5"] = base64.b64encode(bytes.fromhex(headers.md5_hex)).decode()
        if if_none_match:
            args["IfNoneMatch"] = "*"
        if if_match:
            args["IfMatch"] = f'"{if_match}"'
        try:
            return str(self.s3.put_object(**args)["ETag"]).strip('"')
        except Exception as exc:
            if (if_none_match or if_match) and (
                is_precondition_failed(exc) or is_not_implemented(exc)
            ):
                raise
            raise self._fail(exc) from None

    def delete(self, key: str, if_match: str | None = None) -> None:
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if if_match:
            args["IfMatch"] = f'"{if_match}"'
        try:
            self.s3.delete_object(**args)
        except Exception as exc:
            if (
                isinstance(exc, ClientError)
                and http_status(exc) == 404
                and error_code(exc) != "NoSuchBucket"
            ):
                return  # already gone, e.g. a retry of a delete that succeeded
            if if_match and (is_precondition_failed(exc) or is_not_implemented(exc)):
                raise
            raise self._fail(exc) from None

    def delete_many(self, keys: Sequence[str]) -> list[tuple[str, str]]:
        """Delete in batches of 1,000; return (key, error) for each object not deleted."""
        failed: list[tuple[str, str]] = []
        for start in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[start : start + 1000]]
            try:
                response = self.s3.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
                )
            except Exception as exc:
                raise self._fail(exc) from None
            failed += [
                (e["Key"], f"{e.get('Code')}: {e.get('Message')}")
                for e in response.get("Errors", [])
            ]
        return failed
