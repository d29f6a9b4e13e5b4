"""The S3 calls of `publisher init-bucket`: create, CORS, Block Public Access, policy."""

from __future__ import annotations

import json
from typing import Any

from .s3_bucket import S3Bucket
from .translate import ClientError, error_code, http_status


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


class BucketSetup(S3Bucket):
    """A bucket being prepared: its CORS, public access settings and policy."""

    def exists(self) -> bool:
        try:
            self.s3.head_bucket(Bucket=self.bucket)
            return True
        except ClientError as exc:
            if http_status(exc) == 404:
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

    def public_access_block(self) -> dict[str, bool]:
        """Return the bucket's Block Public Access settings ({} when it has none)."""
        try:
            found = self.s3.get_public_access_block(Bucket=self.bucket)
            config = found.get("PublicAccessBlockConfiguration", {})
            return {str(k): bool(v) for k, v in config.items()}
        except ClientError as exc:
            if error_code(exc) == "NoSuchPublicAccessBlockConfiguration" or http_status(exc) == 404:
                return {}
            raise self._fail(exc) from None
        except Exception as exc:
            raise self._fail(exc) from None

    def allow_public_policy(self, current: dict[str, bool]) -> None:
        """Turn off the two Block Public Access settings that refuse a public bucket policy
        (BlockPublicPolicy, RestrictPublicBuckets); the ACL ones stay as they are."""
        config = {
            "BlockPublicAcls": current.get("BlockPublicAcls", True),
            "IgnorePublicAcls": current.get("IgnorePublicAcls", True),
            "BlockPublicPolicy": False,
            "RestrictPublicBuckets": False,
        }
        try:
            self.s3.put_public_access_block(
                Bucket=self.bucket, PublicAccessBlockConfiguration=config
            )
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
        except ClientError:
            pass
        try:
            policy = self.s3.get_bucket_policy(Bucket=self.bucket)["Policy"]
        except ClientError:
            policy = None
        except Exception as exc:
            raise self._fail(exc) from None
        if policy and lists_publicly(policy):
            reasons.append("the bucket policy allows s3:ListBucket to everyone")
        return reasons
