"""The raw floor of a cold publish: a bare boto3 put_object loop over pre-rendered files.

    python bench/raw_put.py TREE BUCKET ENDPOINT [--concurrency 32]

Puts every file of TREE (a publisher directory target's config/ folder) to
BUCKET/config/<name> on one shared client with a thread pool, and nothing else: no
state, no rendering, no plan. Each PUT carries what the publisher's botocore path
sends: Content-Type, Cache-Control, `x-amz-meta-sha256` (the body's sha256) and
Content-MD5 instead of botocore's default CRC32 checksum, without `Expect: 100-continue`.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import botocore.handlers
from botocore.config import Config

from publisher.documents.render import CONTENT_TYPE
from publisher.settings import DEFAULT_CACHE_CONTROL


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("tree", type=Path)
    parser.add_argument("bucket")
    parser.add_argument("endpoint")
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    config = Config(
        max_pool_connections=args.concurrency,
        retries={"mode": "standard"},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        s3={"addressing_style": "path"},
    )
    s3 = boto3.client("s3", endpoint_url=args.endpoint, config=config)
    s3.meta.events.unregister("before-call.s3", botocore.handlers.add_expect_header)
    files = [(entry.name, Path(entry.path).read_bytes()) for entry in os.scandir(args.tree)]

    def put(item: tuple[str, bytes]) -> None:
        name, body = item
        s3.put_object(
            Bucket=args.bucket,
            Key=f"config/{name}",
            Body=body,
            ContentType=CONTENT_TYPE,
            CacheControl=DEFAULT_CACHE_CONTROL,
            Metadata={"sha256": hashlib.sha256(body).hexdigest()},
            ContentMD5=base64.b64encode(hashlib.md5(body).digest()).decode(),
        )

    with ThreadPoolExecutor(args.concurrency) as pool:
        list(pool.map(put, files))
    print(len(files))


if __name__ == "__main__":
    main()
