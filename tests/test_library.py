"""The whole publish as one library call: settings as data, against moto's HTTP server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import publisher
from publisher import CdnKind, CdnSettings, PublishOptions, StorageSettings
from publisher.documents.render import render_documents
from publisher.errors import UsageError
from publisher.state import load_state
from tests.conftest import dump_state
from tests.s3util import BUCKET, CREDENTIALS, moto_server, s3_client
from tests.test_s3_server import many


def test_publish_to_s3_with_a_purge_in_one_call(
    purges: tuple[str, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """publisher.publish builds the S3 target and the purger from settings, as the CLI does."""
    edge, seen = purges
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    state = dump_state(tmp_path / "s.yaml", many(2, keys_per_org=2))
    with moto_server() as endpoint:
        client: Any = s3_client(endpoint)
        client.create_bucket(Bucket=BUCKET)
        result = publisher.publish(
            state,
            f"s3://{BUCKET}/site",
            PublishOptions(prune=True),
            storage=StorageSettings(endpoint_url=endpoint, cache_control="max-age=5"),
            cdn=CdnSettings(CdnKind.http_purge, purge_urls=(edge,)),
        )
        docs = render_documents(load_state(state)).documents
        for key, doc in docs.items():
            obj = client.get_object(Bucket=BUCKET, Key=f"site/config/{key}")
            assert obj["Body"].read() == doc.body
            assert obj["CacheControl"] == "max-age=5"
    assert result.generation == 1 and result.plan.count("added") == 4
    # The edge serves /config/<key> (the generated configs map the bucket's prefix).
    assert sorted(seen) == sorted(f"/config/{k}" for k in docs)


def test_cdn_settings_are_checked_before_anything_is_written(tmp_path: Path) -> None:
    """A CloudFront purge without a distribution is a usage error; the target stays empty."""
    state = dump_state(tmp_path / "s.yaml", many(1))
    with pytest.raises(UsageError, match="--distribution-id"):
        publisher.publish(state, tmp_path / "out", cdn=CdnSettings(CdnKind.cloudfront))
    assert not (tmp_path / "out").exists()


def test_send_webhooks_names_an_unknown_organization(tmp_path: Path) -> None:
    """send_webhooks of an organization without webhooks is a usage error (exit 2)."""
    state = dump_state(tmp_path / "s.yaml", many(1))
    with pytest.raises(UsageError, match="no webhook of organization 'org0'") as caught:
        publisher.send_webhooks(state, "org0")
    assert caught.value.exit_code == 2
