"""The raw floor of a cold publish: a bare boto3 put_object loop over pre-rendered files.

    python bench/raw_put.py TREE BUCKET ENDPOINT [--concurrency 32]

Puts every file of TREE (a publisher directory target's config/ folder) to
BUCKET/config/<name> with the same headers the publisher sets, on one shared client
with a thread pool, and nothing else: no state, no rendering, no plan.
"""

from __future__ import annotations

import argparse
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
from botocore.config import Config


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("tree", type=Path)
    parser.add_argument("bucket")
    parser.add_argument("endpoint")
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    config = Config(max_pool_connections=args.concurrency, retries={"mode": "standard"})
    s3 = boto3.client("s3", endpoint_url=args.endpoint, config=config)
    files = [(entry.name, Path(entry.path).read_bytes()) for entry in os.scandir(args.tree)]

    def put(item: tuple[str, bytes]) -> None:
        name, body = item
        s3.put_object(
            Bucket=args.bucket,
            Key=f"config/{name}",
            Body=body,
            ContentType="application/json; charset=utf-8",
            CacheControl="public, max-age=30, stale-while-revalidate=30, stale-if-error=86400",
        )

    with ThreadPoolExecutor(args.concurrency) as pool:
        list(pool.map(put, files))
    print(len(files))


if __name__ == "__main__":
    main()
