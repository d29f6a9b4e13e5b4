"""The publisher's full-scan listing alone, as its own process.

    python bench/scan.py BUCKET ENDPOINT [--bounds B1,B2,...]

With `--bounds` (what the manifest holds: `scan_bounds` of the keys), the key ranges are
listed side by side, as `publish --full-scan` does; without, in one sequential chain.
Prints JSON: the documents listed and the ranges used.
"""

from __future__ import annotations

import argparse
import json

from publisher.settings import StorageSettings
from publisher.targets import open_target


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("bucket")
    parser.add_argument("endpoint")
    parser.add_argument("--bounds", default="")
    args = parser.parse_args()
    bounds = tuple(b for b in args.bounds.split(",") if b)
    target = open_target(f"s3://{args.bucket}", StorageSettings(endpoint_url=args.endpoint))
    live = target.list_live(bounds)
    together = target.ranges_pay
    print(json.dumps({"listed": len(live), "ranges": len(bounds) + 1, "together": together}))


if __name__ == "__main__":
    main()
