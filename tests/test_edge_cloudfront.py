"""`edge-config cloudfront`: the bucket policy for origin access control, applied to a
moto bucket and read back; the CloudFormation template passes cfn-lint."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli
from tests.s3util import CREDENTIALS, moto_server, s3_client

ARN = "arn:aws:cloudfront::123456789012:distribution/E1ABCDEFGHIJK"


def test_the_policy_lets_only_this_distribution_read_only_the_documents(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    result = run_cli(
        "edge-config", "cloudfront", "--bucket", "docs-bucket", "--prefix", "site/",
        "--distribution-arn", ARN,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    policy = json.loads(result.stdout)
    (statement,) = policy["Statement"]
    assert statement["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert statement["Action"] == "s3:GetObject"
    assert statement["Resource"] == "arn:aws:s3:::docs-bucket/site/config/*"
    assert statement["Condition"] == {"StringEquals": {"AWS:SourceArn": ARN}}
    with moto_server() as endpoint:
        client: Any = s3_client(endpoint)
        client.create_bucket(Bucket="docs-bucket")
        client.put_bucket_policy(Bucket="docs-bucket", Policy=result.stdout)
        assert json.loads(client.get_bucket_policy(Bucket="docs-bucket")["Policy"]) == policy


def test_the_cloudformation_template_passes_cfn_lint(tmp_path: Path) -> None:
    lint = shutil.which("cfn-lint") or str(Path(sys.executable).parent / "cfn-lint")
    if not Path(lint).exists():
        pytest.skip("cfn-lint is not installed (pip install cfn-lint; make test does)")
    out = tmp_path / "cloudfront.yaml"
    result = run_cli(
        "edge-config", "cloudfront", "--bucket", "docs-bucket", "--prefix", "site",
        "--region", "eu-west-1", "-o", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    text = out.read_text()
    assert "PathPattern: config/*" in text and "OriginPath: /site" in text  # edge: /config/<key>
    assert (
        "docs-bucket.s3.eu-west-1" in text
        and "--distribution-arn" in text
        and "--policy" not in text
    )
    checked = subprocess.run([lint, str(out)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("--bucket", "Bad_Bucket"),
        ("--bucket", "ok-bucket", "--distribution-arn", "arn:aws:s3:::x"),
        ("--bucket", "ok-bucket", "--prefix", "a b"),
        ("--bucket", "ok-bucket", "--region", "mars"),
        (),
    ],
)
def test_bad_cloudfront_options_are_refused(args: tuple[str, ...]) -> None:
    result = run_cli("edge-config", "cloudfront", *args)
    assert result.exit_code == 2 and result.stdout == ""
