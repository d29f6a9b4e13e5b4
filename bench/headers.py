"""What each tool of bench/nulls3.py sends with a document, captured from the wire.

    python bench/headers.py [--tools publisher s5cmd ...]

Each tool uploads a 20-key state's documents (the tiny size) to the null S3 with
nginx logging every PUT's headers, and each header is shown for its first document:
the value, or what it is (the body's sha256, MD5 or CRC32, or a placeholder). A tool
that sends neither a body digest nor a checksum is not checked by the store.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
import urllib.parse
import zlib
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.nulls3 import LOGGED, WORK, NullS3, prepare, ready, run, tool_env
from bench.peers import ALL, PLACEHOLDER_SHA256, Command, commands

SHOWN = {
    "http_content_type": "Content-Type",
    "http_cache_control": "Cache-Control",
    "http_x_amz_meta_sha256": "x-amz-meta-sha256",
    "http_content_md5": "Content-MD5",
    "http_x_amz_content_sha256": "x-amz-content-sha256 (SigV4)",
    "http_x_amz_checksum_crc32": "x-amz-checksum-crc32",
    "http_x_amz_checksum_crc64nvme": "x-amz-checksum-crc64nvme",
    "http_x_amz_sdk_checksum_algorithm": "x-amz-sdk-checksum-algorithm",
    "http_x_amz_trailer": "x-amz-trailer",
    "http_content_encoding": "Content-Encoding",
    "http_expect": "Expect",
    "http_x_amz_meta_mtime": "x-amz-meta-mtime",
}


def capture(work: Path = WORK / "headers", only: list[str] | None = None) -> dict[str, Any]:
    """Each tool's headers on its first document PUT (header → value or what it is), or
    why it did not run."""
    if not ready(install=False):
        return {}
    state, tree = prepare(20, work)
    found: dict[str, Any] = {}
    for name in ALL:
        if only and name not in only:
            continue
        logs = work / name.replace(" ", "-")
        store = NullS3(0.0, logs, log=True)
        try:
            cmd = commands(state, tree, store.url, 32, work)[name]
            if not isinstance(cmd, Command):
                found[name] = cmd
                continue
            try:
                run(cmd, tool_env())
            except RuntimeError as exc:
                found[name] = f"failed: {exc}"
                continue
        finally:
            store.close()
        found[name] = _first_document(logs / "headers.log", tree)
    return found


def _first_document(log: Path, tree: Path) -> dict[str, str] | str:
    for line in log.read_text().splitlines():
        values = dict(zip(LOGGED, line.split("\t"), strict=True))
        name = urllib.parse.unquote(values["request_uri"].split("?")[0]).rsplit("/", 1)[-1]
        body = (tree / name).read_bytes() if (tree / name).is_file() else None
        if "/config/" in values["request_uri"] and body is not None:
            shown = {SHOWN[k]: _what(v, body) for k, v in values.items() if k in SHOWN and v}
            return {**shown, "User-Agent": values["http_user_agent"][:40]}
    return "no document PUT logged"


def _what(value: str, body: bytes) -> str:
    """The header's value, or what it is when it is a digest."""
    md5 = hashlib.md5(body).digest()
    if value == hashlib.sha256(body).hexdigest():
        return "the body's sha256"
    if value == PLACEHOLDER_SHA256:
        return "placeholder (64 zeros)"
    if value == base64.b64encode(md5).decode():
        return "the body's MD5"
    if value == base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode():
        return "the body's CRC32"
    return value


def table(found: dict[str, Any]) -> str:
    """One block per tool: each header it sent on a document."""
    out = []
    for name, headers in found.items():
        if isinstance(headers, str):
            out.append(f"{name}: {headers[:200]}")
            continue
        out.append(f"{name}:")
        out += [f"  {header:<30} {value}" for header, value in headers.items()]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tools", nargs="+", choices=ALL, default=None)
    parser.add_argument("--json", action="store_true", help="print JSON, not the table")
    args = parser.parse_args()
    found = capture(only=args.tools)
    print(json.dumps(found, indent=1) if args.json else table(found))


if __name__ == "__main__":
    main()
