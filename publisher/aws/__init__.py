"""Everything that talks to AWS APIs: botocore (boto3's core) is imported here and nowhere else.

Callers get small wrappers (`S3Bucket`, `CloudFront`) that raise our errors, never
botocore's, and that take their client as an argument so tests hand in a moto one. How
to reach the store is resolved once (`Store`), and every client is built from it.
"""

from __future__ import annotations

from .bucket_setup import BucketSetup, lists_publicly
from .client import client
from .cloudfront import CloudFront
from .options import AwsOptions
from .s3_bucket import BOOKKEEPING, Headers, Object, S3Bucket
from .store import Store
from .translate import is_not_implemented, is_precondition_failed, translate

__all__ = [
    "BOOKKEEPING",
    "AwsOptions",
    "BucketSetup",
    "CloudFront",
    "Headers",
    "Object",
    "S3Bucket",
    "Store",
    "client",
    "is_not_implemented",
    "is_precondition_failed",
    "lists_publicly",
    "translate",
]
