"""The floor of a no-op republish: one bare paged ListObjectsV2 of the documents' prefix.

python bench/raw_list.py BUCKET ENDPOINT
"""

from __future__ import annotations

import sys

import boto3


def main() -> None:
    bucket, endpoint = sys.argv[1], sys.argv[2]
    s3 = boto3.client("s3", endpoint_url=endpoint)
    count = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="config/"):
        count += len(page.get("Contents", []))
    print(count)


if __name__ == "__main__":
    main()
