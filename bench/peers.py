"""The tools bench/nulls3.py compares, each at a given number of uploads in flight, and
each told to send the headers the publisher sends where it can.

The publisher puts each document with Content-Type `application/json; charset=utf-8`,
its Cache-Control and `x-amz-meta-sha256` (the body's sha256). Its native uploads
(obstore) sign that sha256 of the payload (SigV4's `x-amz-content-sha256`); its botocore
path sends Content-MD5 instead of a CRC32 trailer. The peers get the same Content-Type,
Cache-Control and a `sha256` metadata entry; a tool that sets one value for every file
gets a placeholder of the same length (64 hex digits), so the same bytes go on the wire,
not each document's own digest. What each one does send is captured, not assumed:
`python bench/headers.py` prints it (bench/README.md has the table).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import NamedTuple

from publisher.documents.render import CONTENT_TYPE
from publisher.settings import DEFAULT_CACHE_CONTROL

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
AWSCLI = ROOT / "bench" / ".awscli" / "bin"
BUCKET = "null-bucket"
PLACEHOLDER_SHA256 = "0" * 64
"""The `sha256` metadata of a tool that sets one value for all files: same length."""

MAIN = ("publisher", "s5cmd", "rclone")
"""Run in rounds (the median reported); the Python tools, ten times slower, run once."""
ALL = (*MAIN, "raw boto3 loop", "aws s3 sync")


class Command(NamedTuple):
    argv: list[str]
    env: dict[str, str]


def commands(
    state: Path, tree: Path, url: str, in_flight: int, work: Path
) -> dict[str, Command | str]:
    """Each tool's command with `in_flight` uploads at once, or why it is left out."""
    s5cmd, rclone, aws = AWSCLI / "s5cmd", shutil.which("rclone"), AWSCLI / "aws"
    n = str(in_flight)
    meta = f"sha256={PLACEHOLDER_SHA256}"
    found: dict[str, Command | str] = {
        "publisher": Command([str(BIN / "publisher"), "publish", str(state), "--target",
                              f"s3://{BUCKET}", "--endpoint-url", url, "--concurrency", n,
                              "--quiet"], {}),
        "s5cmd": Command([str(s5cmd), "--endpoint-url", url, "--numworkers", n, "cp",
                          "--content-type", CONTENT_TYPE, "--cache-control",
                          DEFAULT_CACHE_CONTROL, "--metadata", meta, f"{tree}/*",
                          f"s3://{BUCKET}/config/"], {})
        if s5cmd.exists() else "not installed (make bench installs it in bench/.awscli)",
        # No HEAD after each upload, and no check of the ETag against the MD5: nginx's
        # ETag is not the body's MD5. --checkers match the listing (empty) to the files.
        "rclone": Command([rclone, "copy", "--transfers", n, "--checkers", n,
                           "--s3-no-head", "--ignore-checksum", "--s3-provider", "Other",
                           "--s3-endpoint", url, "--s3-env-auth", "-q",
                           "--header-upload", f"Content-Type: {CONTENT_TYPE}",
                           "--header-upload", f"Cache-Control: {DEFAULT_CACHE_CONTROL}",
                           "--header-upload", f"X-Amz-Meta-Sha256: {PLACEHOLDER_SHA256}",
                           str(tree), f":s3:{BUCKET}/config"], {})
        if rclone else "not installed (apt-get install rclone)",
        "raw boto3 loop": Command([str(BIN / "python"), str(ROOT / "bench" / "raw_put.py"),
                                   str(tree), BUCKET, url, "--concurrency", n], {}),
        "aws s3 sync": Command([str(aws), "s3", "sync", str(tree), f"s3://{BUCKET}/config",
                                "--endpoint-url", url, "--only-show-errors", "--no-progress",
                                "--content-type", CONTENT_TYPE, "--cache-control",
                                DEFAULT_CACHE_CONTROL, "--metadata", meta],
                               {"AWS_CONFIG_FILE": str(_aws_config(work, in_flight))})
        if aws.exists() else "not installed (make bench installs it)",
    }  # fmt: skip
    return found


def _aws_config(work: Path, in_flight: int) -> Path:
    """The awscli config file that sets its requests in flight (its default: 10)."""
    work.mkdir(parents=True, exist_ok=True)
    config = work / f"aws-config-{in_flight}"
    config.write_text(f"[default]\ns3 =\n  max_concurrent_requests = {in_flight}\n")
    return config
