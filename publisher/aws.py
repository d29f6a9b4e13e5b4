"""The one module that talks to boto3: clients, S3 and CloudFront calls, error translation.

Callers get small wrappers (`S3Bucket`, `CloudFront`) that raise our errors, never
botocore's, and that take their client as an argument so tests hand in a moto one.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.exceptions as bex
import botocore.handlers
from botocore.config import Config

from .errors import PublisherError, StorageError, TooManyInvalidationsError, UsageError
from .redact import redact_paths

_REGION_CODES = {
    "PermanentRedirect",
    "AuthorizationHeaderMalformed",
    "IllegalLocationConstraintException",
}
_CRED_CODES = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken"}


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


def _session(options: AwsOptions) -> Any:
    try:
        return boto3.session.Session(profile_name=options.profile, region_name=options.region)
    except bex.ProfileNotFound:
        raise UsageError(
            f"--profile {options.profile}: no such profile in the AWS config"
        ) from None


def client(service: str, options: AwsOptions) -> Any:
    """Return a boto3 client with retries for throttling and 5xx and a sized pool."""
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
    session = _session(options)
    region = options.region or session.region_name or "us-east-1"
    made = session.client(
        service, endpoint_url=options.endpoint_url, region_name=region, config=config
    )
    if service == "s3":
        # `Expect: 100-continue` costs a round trip per PUT; it pays off only for bodies
        # far larger than a document (at most a few MiB).
        made.meta.events.unregister("before-call.s3", botocore.handlers.add_expect_header)
    return made


def _code(exc: bex.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _status(exc: bex.ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def translate(exc: Exception, where: str, endpoint: str) -> PublisherError:
    """Turn a botocore error into one clear line that says the fix."""
    if isinstance(exc, PublisherError):
        return exc
    if isinstance(exc, bex.NoCredentialsError | bex.PartialCredentialsError):
        return StorageError(
            "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "AWS_PROFILE or --profile (the standard boto3 credential chain)"
        )
    if isinstance(
        exc, bex.EndpointConnectionError | bex.ConnectTimeoutError | bex.ProxyConnectionError
    ):
        return StorageError(f"cannot reach {endpoint}: check --endpoint-url and the network")
    if isinstance(exc, bex.ClientError):
        code, status = _code(exc), _status(exc)
        message = exc.response.get("Error", {}).get("Message", "")
        if code == "NoSuchBucket":
            return StorageError(
                f"{where} does not exist at {endpoint}: create it "
                "(publisher init-bucket --create) or check the name and --endpoint-url"
            )
        if code in _REGION_CODES or status == 301:
            headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
            region = headers.get("x-amz-bucket-region") or exc.response.get("Error", {}).get(
                "Region"
            )
            hint = f"pass --region {region}" if region else "pass the bucket's --region"
            return StorageError(f"{where} is in another region than the client's: {hint}")
        if code in _CRED_CODES:
            return StorageError(f"the credentials were rejected by {endpoint} ({code}): check them")
        if code == "AccessDenied" or status == 403:
            return StorageError(
                f"access denied to {where}: the credentials need s3:ListBucket, s3:GetObject, "
                "s3:PutObject and s3:DeleteObject on it"
            )
        return StorageError(redact_paths(f"{where}: {code or status}: {message}".rstrip(": ")))
    if isinstance(exc, bex.BotoCoreError):
        return StorageError(redact_paths(f"{where}: {exc}"))
    raise exc


def is_precondition_failed(exc: Exception) -> bool:
    return isinstance(exc, bex.ClientError) and (
        _code(exc) in ("PreconditionFailed", "ConditionalRequestConflict")
        or _status(exc) in (409, 412)
    )


def is_not_implemented(exc: Exception) -> bool:
    return isinstance(exc, bex.ClientError) and (
        _code(exc) in ("NotImplemented", "InvalidArgument") or _status(exc) == 501
    )


@dataclass(frozen=True)
class Object:
    key: str
    etag: str
    body: bytes | None = None


def lists_publicly(policy: str) -> bool:
    """True when a bucket policy lets anyone (Principal *) list the bucket."""
    try:
        statements = json.loads(policy).get("Statement", [])
    except ValueError:
        return False
    for st in statements if isinstance(statements, list) else [statements]:
        principal = st.get("Principal")
        anyone = principal == "*" or (
            isinstance(principal, dict) and "*" in _as_list(principal.get("AWS"))
        )
        actions = {a.lower() for a in _as_list(st.get("Action"))}
        if (
            st.get("Effect") == "Allow"
            and anyone
            and actions & {"s3:listbucket", "s3:*", "*", "s3:list*"}
        ):
            return True
    return False


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


class S3Bucket:
    """The S3 calls the target makes, each translating errors to ours."""

    def __init__(self, s3: Any, bucket: str, endpoint: str) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.endpoint = endpoint

    def _fail(self, exc: Exception) -> PublisherError:
        return translate(exc, f"bucket {self.bucket}", self.endpoint)

    def list_objects(self, prefix: str) -> Iterator[Object]:
        """Yield every object under `prefix` from paged ListObjectsV2 calls."""
        try:
            pages = self.s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            for page in pages:
                for item in page.get("Contents", []):
                    yield Object(item["Key"], item["ETag"].strip('"'))
        except Exception as exc:
            raise self._fail(exc) from None

    def get(self, key: str) -> Object | None:
        try:
            response = self.s3.get_object(Bucket=self.bucket, Key=key)
            return Object(key, response["ETag"].strip('"'), response["Body"].read())
        except bex.ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404") or (
                _status(exc) == 404 and _code(exc) != "NoSuchBucket"
            ):
                return None
            raise self._fail(exc) from None
        except Exception as exc:
            raise self._fail(exc) from None

    def put(
        self,
        key: str,
        body: bytes,
        *,
        content_type: str,
        cache_control: str,
        metadata: dict[str, str] | None = None,
        md5_hex: str | None = None,
        if_none_match: bool = False,
        if_match: str | None = None,
    ) -> str:
        """Put one object; with a condition, a failed precondition raises it unchanged."""
        args: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": key,
            "Body": body,
            "ContentType": content_type,
            "CacheControl": cache_control,
            "Metadata": metadata or {},
        }
        if md5_hex:
            args["ContentMD5"] = base64.b64encode(bytes.fromhex(md5_hex)).decode()
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
                isinstance(exc, bex.ClientError)
                and _status(exc) == 404
                and _code(exc) != "NoSuchBucket"
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

    def exists(self) -> bool:
        try:
            self.s3.head_bucket(Bucket=self.bucket)
            return True
        except bex.ClientError as exc:
            if _status(exc) == 404:
                return False
            raise self._fail(exc) from None
        except Exception as exc:
            raise self._fail(exc) from None

    def create(self, region: str | None) -> None:
        args: dict[str, Any] = {"Bucket": self.bucket}
        if region and region != "us-east-1":
            args["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            self.s3.create_bucket(**args)
        except Exception as exc:
            raise self._fail(exc) from None

    def put_cors(self, rules: list[dict[str, Any]]) -> None:
        try:
            self.s3.put_bucket_cors(Bucket=self.bucket, CORSConfiguration={"CORSRules": rules})
        except Exception as exc:
            raise self._fail(exc) from None

    def put_policy(self, policy: str) -> None:
        try:
            self.s3.put_bucket_policy(Bucket=self.bucket, Policy=policy)
        except Exception as exc:
            raise self._fail(exc) from None

    def public_listing(self) -> list[str]:
        """Return why the bucket may let anyone list it (an ACL grant or a policy), if it does."""
        reasons = []
        try:
            acl = self.s3.get_bucket_acl(Bucket=self.bucket)
            for grant in acl.get("Grants", []):
                uri = grant.get("Grantee", {}).get("URI", "")
                if uri.endswith(("/AllUsers", "/AuthenticatedUsers")) and grant.get(
                    "Permission"
                ) in ("READ", "FULL_CONTROL"):
                    reasons.append(
                        f"the ACL grants {grant['Permission']} to {uri.rsplit('/', 1)[-1]}"
                    )
        except bex.ClientError:
            pass
        try:
            policy = self.s3.get_bucket_policy(Bucket=self.bucket)["Policy"]
        except bex.ClientError:
            policy = None
        except Exception as exc:
            raise self._fail(exc) from None
        if policy and lists_publicly(policy):
            reasons.append("the bucket policy allows s3:ListBucket to everyone")
        return reasons


class CloudFront:
    """The CloudFront calls of the purge adapter."""

    def __init__(self, cloudfront: Any, distribution_id: str) -> None:
        self.cf = cloudfront
        self.distribution_id = distribution_id

    def invalidate(self, paths: Sequence[str]) -> str:
        """Create one invalidation batch; return its id."""
        batch = {
            "Paths": {"Quantity": len(paths), "Items": list(paths)},
            "CallerReference": f"publisher-{time.time():.0f}-{uuid.uuid4().hex[:8]}",
        }
        try:
            response = self.cf.create_invalidation(
                DistributionId=self.distribution_id, InvalidationBatch=batch
            )
        except bex.ClientError as exc:
            if _code(exc) == "TooManyInvalidationsInProgress":
                raise TooManyInvalidationsError(str(exc)) from None
            if _code(exc) == "NoSuchDistribution":
                raise StorageError(
                    f"CloudFront distribution {self.distribution_id} does not exist: "
                    "check --distribution-id"
                ) from None
            raise translate(
                exc, f"CloudFront distribution {self.distribution_id}", "CloudFront"
            ) from None
        except Exception as exc:
            raise translate(
                exc, f"CloudFront distribution {self.distribution_id}", "CloudFront"
            ) from None
        return str(response["Invalidation"]["Id"])

    def wait(self, invalidation_id: str, timeout: float) -> None:
        try:
            waiter = self.cf.get_waiter("invalidation_completed")
            waiter.wait(
                DistributionId=self.distribution_id,
                Id=invalidation_id,
                WaiterConfig={"Delay": 10, "MaxAttempts": max(1, int(timeout // 10))},
            )
        except bex.WaiterError as exc:
            raise StorageError(f"invalidation {invalidation_id} did not complete: {exc}") from None
