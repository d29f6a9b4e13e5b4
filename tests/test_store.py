"""One store, resolved once: configured the AWS way (environment, profile, CA bundle,
addressing, retries), listings, bookkeeping and document uploads all reach the same
host and the same bucket, and the publish converges.

Every request goes through a recording front on 127.0.0.1 (tests/store_front.py): the
endpoint itself, or the proxy through which "AWS S3" is reached, with a CA of the test's
own for https.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from publisher.aws import AwsOptions, Store
from publisher.aws.native import NativeUploads, native_uploads, signed_url
from publisher.aws.store import AIM, aim
from publisher.documents.render import render_documents
from publisher.errors import StorageError
from publisher.state import load_state
from tests.conftest import base_state, dump_state, run_cli
from tests.s3util import CREDENTIALS, moto_server, s3_client
from tests.store_front import Front, Seen, TestCA, free_port

AWS_VARIABLES = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_CA_BUNDLE",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_RETRY_MODE",
    "AWS_MAX_ATTEMPTS",
    "AWS_REGION",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_SERVER_SIDE_ENCRYPTION",
    "REQUESTS_CA_BUNDLE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "http_proxy",
    "https_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
)


KEYS = "aws_access_key_id = testing\naws_secret_access_key = testing\n"
"""A named profile's own credentials (botocore reads no AWS_ACCESS_KEY_ID for one)."""


@pytest.fixture(scope="module")
def moto() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Test credentials, an empty AWS config of the test's own, nothing else of the AWS
    kind from the machine (this one sets AWS_CA_BUNDLE); returns the config file."""
    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    config = tmp_path / "aws-config"
    config.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    return config


@pytest.fixture
def ca(tmp_path: Path) -> TestCA:
    folder = tmp_path / "ca"
    folder.mkdir()
    return TestCA(folder)


def _bucket(moto: str, name: str) -> str:
    client: Any = s3_client(moto)
    client.create_bucket(Bucket=name)
    return name


def publish(tmp_path: Path, target: str, *extra: str) -> tuple[Path, Any]:
    state = dump_state(tmp_path / "state.yaml", base_state())
    result = run_cli("-v", "publish", state, "--target", target, *extra)
    return state, result


def assert_one_store(
    front: Front, *, scheme: str, host: str, bucket: str, virtual: bool, native: bool = True
) -> list[Seen]:
    """Every request went to `host` and to `bucket` (in the host or the path's first
    part); documents were put, by obstore where `native`; return the requests."""
    seen = front.requests()
    assert seen, "no request reached the front"
    for request in seen:
        assert (request.scheme, request.host) == (scheme, host), request
        if not virtual:
            assert request.path.split("?")[0].split("/")[1] == bucket, request
    documents = [r for r in seen if r.method == "PUT" and "/config/" in r.path]
    assert documents, "no document was uploaded"
    assert all(r.native == native for r in documents), [r.agent for r in documents]
    return seen


def assert_converged(moto: str, bucket: str, prefix: str, state: Path) -> None:
    """The documents the state renders are live at <prefix>/config/<key>, byte for byte."""
    client: Any = s3_client(moto)
    for key, document in render_documents(load_state(state)).documents.items():
        body = client.get_object(Bucket=bucket, Key=f"{prefix}config/{key}")["Body"].read()
        assert body == document.body


@pytest.mark.parametrize("variable", ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"])
def test_endpoint_from_the_environment(
    moto: str, aws_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    """AWS_ENDPOINT_URL (or _S3, which wins over it) and no --endpoint-url: listings,
    bookkeeping and uploads all reach that store, path style, and the publish converges."""
    bucket = _bucket(moto, f"env-{variable.lower().replace('_', '-')}")
    with Front(moto, bucket) as front:
        monkeypatch.setenv(variable, front.url)
        if variable == "AWS_ENDPOINT_URL_S3":  # the general one names another store
            monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
        state, result = publish(tmp_path, f"s3://{bucket}/site")
        assert result.exit_code == 0, result.stderr
        assert_one_store(
            front, scheme="http", host=front.netloc, bucket=bucket,
            virtual=False,
        )  # fmt: skip
    assert f"endpoint {front.url} ({variable})" in result.stderr
    assert_converged(moto, bucket, "site/", state)


def test_endpoint_from_the_environment_over_https(
    moto: str, aws_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ca: TestCA
) -> None:
    """Over https (AWS_ENDPOINT_URL with AWS_CA_BUNDLE) the documents go to the bucket the
    listing reads, not one named after the prefix; a full scan then finds nothing to do."""
    bucket = _bucket(moto, "env-https")
    with Front(moto, bucket, ca).https() as front:
        monkeypatch.setenv("AWS_ENDPOINT_URL", front.url)
        monkeypatch.setenv("AWS_CA_BUNDLE", str(ca.pem))
        state, result = publish(tmp_path, f"s3://{bucket}/site/live")
        assert result.exit_code == 0, result.stderr
        assert_one_store(
            front, scheme="https", host=front.netloc, bucket=bucket,
            virtual=False,
        )  # fmt: skip
        again = run_cli("publish", state, "--target", f"s3://{bucket}/site/live", "--full-scan")
    assert again.exit_code == 0 and "Nothing to upload" in again.stdout, again.stdout
    assert_converged(moto, bucket, "site/live/", state)


@pytest.mark.parametrize("how", ["--profile", "AWS_PROFILE"])
def test_endpoint_from_the_profile(
    moto: str, aws_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """`endpoint_url` in the profile: document PUTs reach that store too, not AWS S3."""
    bucket = _bucket(moto, f"profile-{how.strip('-').lower().replace('_', '-')}")
    with Front(moto, bucket) as front:
        aws_env.write_text(
            f"[profile store]\nendpoint_url = {front.url}\nregion = eu-west-1\n{KEYS}"
        )
        extra = ["--profile", "store"] if how == "--profile" else []
        if how == "AWS_PROFILE":
            monkeypatch.setenv("AWS_PROFILE", "store")
        state, result = publish(tmp_path, f"s3://{bucket}/site", *extra)
        assert result.exit_code == 0, result.stderr
        assert_one_store(
            front, scheme="http", host=front.netloc, bucket=bucket,
            virtual=False,
        )  # fmt: skip
    assert "endpoint_url of profile store in the AWS config" in result.stderr
    monkeypatch.delenv("AWS_PROFILE", raising=False)  # the check's own client: no profile
    assert_converged(moto, bucket, "site/", state)


def test_endpoint_from_a_services_section(
    moto: str, aws_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A profile's `services` section with an s3 endpoint_url counts as the profile's."""
    bucket = _bucket(moto, "services-section")
    with Front(moto, bucket) as front:
        aws_env.write_text(
            f"[default]\nservices = mine\n\n[services mine]\ns3 =\n  endpoint_url = {front.url}\n"
        )
        state, result = publish(tmp_path, f"s3://{bucket}")
        assert result.exit_code == 0, result.stderr
        assert_one_store(
            front, scheme="http", host=front.netloc, bucket=bucket,
            virtual=False,
        )  # fmt: skip
    assert_converged(moto, bucket, "", state)


def test_ca_bundle_from_the_profile(moto: str, aws_env: Path, tmp_path: Path, ca: TestCA) -> None:
    """`ca_bundle` in the profile: the native uploads trust it as botocore does (no
    'cannot reach' from a certificate they were never told of)."""
    bucket = _bucket(moto, "profile-ca")
    with Front(moto, bucket, ca).https() as front:
        aws_env.write_text(
            f"[profile tls]\nendpoint_url = {front.url}\nca_bundle = {ca.pem}\n{KEYS}"
        )
        state, result = publish(tmp_path, f"s3://{bucket}/p", "--profile", "tls")
        assert result.exit_code == 0, result.stderr
        assert_one_store(
            front, scheme="https", host=front.netloc, bucket=bucket,
            virtual=False,
        )  # fmt: skip
    assert "ca_bundle of profile tls in the AWS config" in result.stderr
    assert_converged(moto, bucket, "p/", state)


@pytest.mark.parametrize(
    ("bucket", "style", "host", "virtual"),
    [
        ("publisher-test", None, "publisher-test.s3.eu-west-1.amazonaws.com", True),
        ("pub.dotted.bucket", None, "s3.eu-west-1.amazonaws.com", False),
        ("publisher-path", "path", "s3.eu-west-1.amazonaws.com", False),
    ],
)
def test_aws_addressing(
    moto: str,
    aws_env: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    ca: TestCA,
    bucket: str,
    style: str | None,
    host: str,
    virtual: bool,
) -> None:
    """AWS S3 itself (reached through a proxy with a certificate like AWS's): a plain
    bucket virtual-hosted, a dotted one path style (the *.s3 certificate does not cover
    it), `s3.addressing_style = path` honoured; every client on the same host."""  # fmt: skip
    _bucket(moto, bucket)
    with Front(moto, bucket, ca) as front:
        monkeypatch.setenv("HTTPS_PROXY", front.url)
        monkeypatch.setenv("AWS_CA_BUNDLE", str(ca.pem))
        monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
        if style:
            aws_env.write_text(f"[default]\ns3 =\n  addressing_style = {style}\n")
        state, result = publish(tmp_path, f"s3://{bucket}/site")
        assert result.exit_code == 0, result.stderr
        assert_one_store(front, scheme="https", host=host, bucket=bucket, virtual=virtual)
        assert {t.rsplit(":", 1)[0] for t in front.tunnels} == {host}
    assert_converged(moto, bucket, "site/", state)


def test_virtual_addressing_on_an_endpoint(
    moto: str, aws_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`s3.addressing_style = virtual` with an endpoint: the bucket in the host, for
    every client (reached through an HTTP proxy: the name resolves nowhere)."""
    bucket = _bucket(moto, "virtual-store")
    with Front(moto, bucket) as front:
        monkeypatch.setenv("HTTP_PROXY", front.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # the checks' own client reaches moto
        aws_env.write_text(
            "[default]\nendpoint_url = http://s3.store.test:9000\n"
            "s3 =\n  addressing_style = virtual\n"
        )
        state, result = publish(tmp_path, f"s3://{bucket}/v")
        assert result.exit_code == 0, result.stderr
        assert_one_store(
            front, scheme="http", host=f"{bucket}.s3.store.test:9000", bucket=bucket,
            virtual=True,
        )  # fmt: skip
    assert_converged(moto, bucket, "v/", state)


@pytest.mark.parametrize("how", ["--retry-mode", "AWS_RETRY_MODE", "profile"])
def test_adaptive_retries_upload_through_botocore(
    moto: str, aws_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """Adaptive retries (a client-side rate limit obstore does not have), from the flag,
    the variable or the profile: the documents go through botocore, with Content-MD5,
    -v says why, and the publish converges on the same store."""
    bucket = _bucket(moto, f"adaptive-{how.strip('-').lower().replace('_', '-')}")
    with Front(moto, bucket) as front:
        monkeypatch.setenv("AWS_ENDPOINT_URL", front.url)
        extra: list[str] = []
        if how == "--retry-mode":
            extra = ["--retry-mode", "adaptive"]
        elif how == "AWS_RETRY_MODE":
            monkeypatch.setenv("AWS_RETRY_MODE", "adaptive")
        else:
            aws_env.write_text("[default]\nretry_mode = adaptive\n")
        state, result = publish(tmp_path, f"s3://{bucket}/a", *extra)
        assert result.exit_code == 0, result.stderr
        seen = assert_one_store(
            front, scheme="http", host=front.netloc, bucket=bucket,
            virtual=False, native=False,
        )  # fmt: skip
    documents = [r for r in seen if r.method == "PUT" and "/config/" in r.path]
    assert all("content-md5" in r.headers for r in documents)
    assert "uploading the documents with botocore: retry mode adaptive" in result.stderr
    assert "retries adaptive" in result.stderr
    assert_converged(moto, bucket, "a/", state)


def test_a_variable_only_obstore_reads_sends_through_botocore(
    moto: str, aws_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AWS_SERVER_SIDE_ENCRYPTION (read by obstore, not botocore) would make document PUTs
    unlike every other request: botocore sends them, and -v says why."""
    bucket = _bucket(moto, "obstore-only")
    with Front(moto, bucket) as front:
        monkeypatch.setenv("AWS_ENDPOINT_URL", front.url)
        monkeypatch.setenv("AWS_SERVER_SIDE_ENCRYPTION", "aws:kms")
        state, result = publish(tmp_path, f"s3://{bucket}")
        assert result.exit_code == 0, result.stderr
        seen = assert_one_store(
            front, scheme="http", host=front.netloc, bucket=bucket,
            virtual=False, native=False,
        )  # fmt: skip
    assert not any("x-amz-server-side-encryption" in r.headers for r in seen)
    assert "AWS_SERVER_SIDE_ENCRYPTION is set, which botocore does not read" in result.stderr
    assert_converged(moto, bucket, "", state)


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("AWS_ENDPOINT_URL", "store.example.com", "AWS_ENDPOINT_URL store.example.com: give a whole URL"),
        ("AWS_ENDPOINT_URL_S3", "ftp://store.example.com", "AWS_ENDPOINT_URL_S3 ftp://store.example.com: give a whole URL"),
        ("AWS_CA_BUNDLE", "/nowhere/ca.pem", "AWS_CA_BUNDLE /nowhere/ca.pem: no readable PEM certificate there"),
        ("AWS_RETRY_MODE", "eager", "retry mode 'eager' (AWS_RETRY_MODE or the profile's retry_mode)"),
        ("AWS_MAX_ATTEMPTS", "many", "max_attempts (AWS_MAX_ATTEMPTS or the profile's)"),
    ],
)  # fmt: skip
def test_a_bad_setting_is_a_usage_error_before_any_request(
    aws_env: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    said: str,
) -> None:
    """A setting from the environment that cannot be honoured: exit 2, one line naming the
    variable, and nothing written (the directory of the state is all there is)."""  # fmt: skip
    monkeypatch.setenv(variable, value)
    _, result = publish(tmp_path, "s3://bucket-never-reached/p")
    assert result.exit_code == 2, result.stderr
    assert said in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_services_section_is_a_usage_error(aws_env: Path, tmp_path: Path) -> None:
    """A profile naming a services section that is not there: one line, exit 2."""
    aws_env.write_text("[default]\nservices = gone\n")
    _, result = publish(tmp_path, "s3://bucket-never-reached/p")
    assert result.exit_code == 2, result.stderr
    assert "names services section 'gone', which does not exist" in result.stderr


def test_an_untrusted_certificate_says_so(
    moto: str, aws_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ca: TestCA
) -> None:
    """An https store whose CA was not given: exit 4 with what was refused and the fix,
    on the listing (botocore) and on the native uploads alike."""
    bucket = _bucket(moto, "untrusted")
    with Front(moto, bucket, ca).https() as front:
        monkeypatch.setenv("AWS_ENDPOINT_URL", front.url)
        _, result = publish(tmp_path, f"s3://{bucket}")
        assert result.exit_code == 4
        assert f"the TLS certificate of {front.url} was refused: set AWS_CA_BUNDLE" in result.stderr
        store = Store(AwsOptions())
        uploads = native_uploads(store, store.client(), bucket, "config/")
        assert isinstance(uploads, NativeUploads)
        with pytest.raises(StorageError) as refused:
            uploads.put("config/key_untrusted_0000000001", b"{}", {})
    assert refused.value.message == (
        f"the TLS certificate of {front.url} was refused: set AWS_CA_BUNDLE or the profile's "
        "ca_bundle to the CA that signed it"
    )
    assert "key_untrusted_0000000001" not in str(refused.value.lines())


def test_native_failures_name_what_was_refused(
    moto: str, aws_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The native uploads' errors say what the store refused, not `GenericError`: a
    missing bucket, an endpoint nothing listens on (naming where it was set)."""
    with Front(moto, "no-such-bucket") as front:
        monkeypatch.setenv("AWS_ENDPOINT_URL", front.url)
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
        store = Store(AwsOptions())
        uploads = native_uploads(store, store.client(), "no-such-bucket", "config/")
        assert isinstance(uploads, NativeUploads)
        with pytest.raises(StorageError) as missing:
            uploads.put("config/key_missing_0000000001", b"{}", {})
    assert missing.value.message.startswith(
        f"bucket no-such-bucket does not exist at {front.url}: create it"
    )
    assert "check the name and AWS_ENDPOINT_URL" in missing.value.message
    closed = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", closed)
    store = Store(AwsOptions())
    uploads = native_uploads(store, store.client(), "publisher-test", "config/")
    assert isinstance(uploads, NativeUploads)
    with pytest.raises(StorageError) as unreachable:
        uploads.put("config/key_missing_0000000001", b"{}", {})
    assert unreachable.value.message == (
        f"cannot reach {closed}: check AWS_ENDPOINT_URL and the network"
    )


def test_a_bucket_in_another_region_is_followed_by_every_client(
    moto: str, aws_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ca: TestCA
) -> None:
    """A bucket in eu-west-1, no --region (us-east-1): botocore follows S3's redirect, and
    the document uploads are signed for the region it learned, on the host it learned."""
    bucket = _bucket(moto, "redirected")
    with Front(moto, bucket, ca, region="eu-west-1") as front:
        monkeypatch.setenv("HTTPS_PROXY", front.url)
        monkeypatch.setenv("AWS_CA_BUNDLE", str(ca.pem))
        state, result = publish(tmp_path, f"s3://{bucket}/r")
        assert result.exit_code == 0, result.stderr
        seen = front.requests()
    accepted = [r for r in seen if r.region == "eu-west-1"]
    documents = [r for r in accepted if r.method == "PUT" and "/config/" in r.path]
    assert documents and all(r.native for r in documents)
    assert not [r for r in seen if r.region != "eu-west-1" and "/config/" in r.path]
    assert {r.host for r in accepted} == {f"{bucket}.s3.eu-west-1.amazonaws.com"}
    assert_converged(moto, bucket, "r/", state)


def test_a_self_signed_certificate_marked_as_a_ca_uploads_through_botocore(
    moto: str, aws_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ca: TestCA
) -> None:
    """`openssl req -x509` makes a certificate marked CA:TRUE: botocore (OpenSSL) takes it
    as the CA bundle, obstore's TLS refuses it as a server's: one HEAD finds that out before
    the lock, and botocore sends the documents (said with -v)."""
    bucket = _bucket(moto, "selfsigned")
    pem, context = ca.self_signed("127.0.0.1")
    with Front(moto, bucket).https(context) as front:
        monkeypatch.setenv("AWS_ENDPOINT_URL", front.url)
        monkeypatch.setenv("AWS_CA_BUNDLE", str(pem))
        state, result = publish(tmp_path, f"s3://{bucket}")
        assert result.exit_code == 0, result.stderr
        assert_one_store(
            front, scheme="https", host=front.netloc, bucket=bucket, virtual=False, native=False
        )
    assert "uploading the documents with botocore: obstore's TLS refuses" in result.stderr
    assert_converged(moto, bucket, "", state)


def test_requests_ca_bundle_is_the_ca_bundle_when_no_other_is_set(
    moto: str, aws_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ca: TestCA
) -> None:
    """botocore falls back to REQUESTS_CA_BUNDLE: so do the native uploads."""
    bucket = _bucket(moto, "requests-ca")
    with Front(moto, bucket, ca).https() as front:
        monkeypatch.setenv("AWS_ENDPOINT_URL", front.url)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca.pem))
        state, result = publish(tmp_path, f"s3://{bucket}")
        assert result.exit_code == 0, result.stderr
        assert_one_store(front, scheme="https", host=front.netloc, bucket=bucket, virtual=False)
    assert "(REQUESTS_CA_BUNDLE)" in result.stderr
    assert_converged(moto, bucket, "", state)


def test_a_ca_bundle_obstore_cannot_read_uploads_through_botocore(
    moto: str, aws_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ca: TestCA
) -> None:
    """An OpenSSL TRUSTED CERTIFICATE bundle (RHEL's ca-bundle.trust.crt) is botocore's to
    read, not obstore's: botocore sends the documents, and says why with -v."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl (the command) is not installed: it writes the trusted format")
    bucket = _bucket(moto, "trusted-format")
    trusted = tmp_path / "trusted.pem"
    made = subprocess.run(
        ["openssl", "x509", "-in", str(ca.pem), "-addtrust", "serverAuth", "-out", str(trusted)],
        capture_output=True,
    )
    assert made.returncode == 0 and b"TRUSTED CERTIFICATE" in trusted.read_bytes()
    with Front(moto, bucket, ca).https() as front:
        monkeypatch.setenv("AWS_ENDPOINT_URL", front.url)
        monkeypatch.setenv("AWS_CA_BUNDLE", str(trusted))
        state, result = publish(tmp_path, f"s3://{bucket}")
        assert result.exit_code == 0, result.stderr
        assert_one_store(
            front, scheme="https", host=front.netloc, bucket=bucket, virtual=False, native=False
        )
    assert (
        "uploading the documents with botocore: obstore refused the configuration" in result.stderr
    )
    assert_converged(moto, bucket, "", state)


@pytest.mark.parametrize(
    ("variables", "proxied"),
    [
        ({}, True),
        ({"NO_PROXY": "127.0.0.1"}, False),
        ({"NO_PROXY": "127.0.0.0/8"}, True),  # urllib (so botocore) reads no CIDR
        ({"NO_PROXY": "*"}, False),
        ({"NO_PROXY": "127.0.0.1:{port}"}, False),
        ({"HTTP_PROXY": "", "ALL_PROXY": "{proxy}"}, False),  # botocore reads no ALL_PROXY
    ],
    ids=["proxy", "no-proxy-host", "no-proxy-cidr", "no-proxy-star", "no-proxy-port", "all-proxy"],
)
def test_the_uploads_take_botocores_route(
    moto: str,
    aws_env: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    variables: dict[str, str],
    proxied: bool,
) -> None:
    """HTTP_PROXY, NO_PROXY and ALL_PROXY as botocore reads them decide every request's
    route: all through the proxy, or all straight to the store, never the uploads apart."""  # fmt: skip
    named = hashlib.sha256(str(variables).encode()).hexdigest()[:12]  # one per case, always
    bucket = _bucket(moto, f"route-{int(proxied)}-{named}")
    with Front(moto, bucket) as store, Front(moto, bucket) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", store.url)
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        for name, value in variables.items():
            monkeypatch.setenv(name, value.format(port=store.port, proxy=proxy.url))
        monkeypatch.setenv("no_proxy", os.environ.get("NO_PROXY", ""))
        state, result = publish(tmp_path, f"s3://{bucket}/p")
        assert result.exit_code == 0, result.stderr
        through, direct = proxy.requests(), store.requests()
    taken = through if proxied else direct
    assert taken and not (direct if proxied else through)
    assert any(r.native and r.method == "PUT" and "/config/" in r.path for r in taken)
    monkeypatch.delenv("HTTP_PROXY")
    monkeypatch.delenv("ALL_PROXY", raising=False)
    assert_converged(moto, bucket, "p/", state)


@pytest.mark.parametrize(
    "url",
    [
        "http://my_minio:9000",
        "http://-bad.example:9000",
        "http://a..b:9000",
        f"http://{'a' * 64}.example",
    ],
)
def test_a_host_name_botocore_refuses_is_a_usage_error(
    aws_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    """An endpoint host botocore refuses (a docker-compose name with '_', an empty label):
    exit 2, one line naming where it was set, no traceback, for publish and history."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    _, result = publish(tmp_path, "s3://bucket-never-reached/p")
    history = run_cli("history", "--target", "s3://bucket-never-reached/p", "--json")
    for each in (result, history):
        assert each.exit_code == 2, each.stderr
        assert (
            "AWS_ENDPOINT_URL" in each.stderr and "not a host name botocore accepts" in each.stderr
        )
        assert "Traceback" not in each.stderr


@pytest.mark.parametrize(
    ("printed", "said"),
    [
        ("not json", "could not be loaded"),
        ("[]", "could not be loaded"),
        ('{"Version": 1, "AccessKeyId": "a", "SecretAccessKey": "s3cr3t-value", "Expiration": "garbage"}', "could not be loaded"),
        ('{"Version": 1, "AccessKeyId": "a", "SecretAccessKey": "s3cr3t-value", "Expiration": "2001-01-01T00:00:00Z"}', "have expired"),
    ],
    ids=["not-json", "a-list", "bad-expiry", "expired"],
)  # fmt: skip
def test_credential_process_failures_are_one_line(
    aws_env: Path, tmp_path: Path, printed: str, said: str
) -> None:
    """A credential_process printing garbage, or credentials expired even refreshed: exit 2,
    one line naming the profile, never what the process printed."""
    script = tmp_path / "creds.sh"
    script.write_text(f"#!/bin/sh\ncat <<'EOF'\n{printed}\nEOF\n")
    script.chmod(0o755)
    aws_env.write_text(f"[profile proc]\ncredential_process = {script}\n")
    _, result = publish(tmp_path, "s3://bucket-never-reached/p", "--profile", "proc")
    assert result.exit_code == 2, result.stderr
    assert said in result.stderr and "profile proc" in result.stderr
    assert "s3cr3t-value" not in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.count("error:") == 1


@pytest.mark.parametrize(
    ("setup", "said"),
    [
        ({"AWS_PROFILE": "nosuch"}, "AWS_PROFILE nosuch: no such profile in the AWS config"),
        ({"PUBLISHER_PROFILE": "nosuch"}, "PUBLISHER_PROFILE nosuch: no such profile in the AWS config"),
        ({"AWS_MAX_ATTEMPTS": "0"}, "max_attempts (AWS_MAX_ATTEMPTS or the profile's): give a whole number from 1 to 100"),
        ({"AWS_CA_BUNDLE": "{junk}"}, "no readable PEM certificate there"),
    ],
    ids=["missing-profile", "publisher-profile", "no-attempts", "junk-ca-bundle"],
)  # fmt: skip
def test_more_bad_settings_name_their_source(
    aws_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, setup: dict[str, str], said: str
) -> None:
    """Each is exit 2 with one line that names the variable it came from."""
    junk = tmp_path / "junk.pem"
    junk.write_bytes(b"\x30\x82 not a certificate")
    for name, value in setup.items():
        monkeypatch.setenv(name, value.format(junk=junk))
    _, result = publish(tmp_path, "s3://bucket-never-reached/p")
    assert result.exit_code == 2, result.stderr
    assert said in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("prefix", ["./dot", "a/./b", "tab\there", "del\x7f"])
def test_a_prefix_no_client_would_send_as_written_is_refused(
    aws_env: Path, tmp_path: Path, prefix: str
) -> None:
    """A '.' segment (an HTTP client may fold it away) or a control character: exit 2."""
    _, result = publish(tmp_path, f"s3://bucket-never-reached/{prefix}")
    assert result.exit_code == 2, result.stderr
    assert "the prefix must not contain" in result.stderr
    assert "\x7f" not in result.stderr  # shown escaped (a tab is shown as it is)


def test_a_services_section_without_an_s3_part_is_not_an_endpoint(
    aws_env: Path, tmp_path: Path
) -> None:
    """As botocore reads it: a services section's endpoint_url outside `s3 =` is none."""
    aws_env.write_text(
        "[default]\nservices = top\n\n[services top]\nendpoint_url = http://127.0.0.1:9\n"
    )
    store = Store(AwsOptions())
    assert store.endpoint.value is None and store.shown == "AWS S3"


def test_a_certificate_for_another_host_says_so(
    moto: str, aws_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ca: TestCA
) -> None:
    """A certificate that names another host: exit 4, and the line says the name is wrong."""
    bucket = _bucket(moto, "other-name")
    with Front(moto, bucket, ca).https(ca.context("other.example")) as front:
        monkeypatch.setenv("AWS_ENDPOINT_URL", front.url)
        monkeypatch.setenv("AWS_CA_BUNDLE", str(ca.pem))
        _, result = publish(tmp_path, f"s3://{bucket}")
    assert result.exit_code == 4
    assert f"the TLS certificate of {front.url} is for another host name" in result.stderr


# The property: whatever the configuration, obstore is aimed at botocore's URL, or not used.

_BUCKETS = st.from_regex(
    r"[a-z0-9][a-z0-9-]{1,20}(\.[a-z0-9][a-z0-9-]{0,10}){0,2}[a-z0-9]", fullmatch=True
)
_ENDPOINTS = st.one_of(
    st.none(),
    st.builds(
        lambda scheme, host, port, base: f"{scheme}://{host}{port}{base}",
        st.sampled_from(["http", "https"]),
        st.sampled_from(["127.0.0.1", "localhost", "s3.store.test", "minio.internal", "[::1]"]),
        st.sampled_from(["", ":9000", ":443", ":80", ":8443"]),
        st.sampled_from(["", "/", "/s3", "/base/path"]),
    ),
)
_PREFIXES = st.from_regex(r"([a-z0-9_.~-]{1,12}/){0,3}", fullmatch=True).filter(
    lambda p: ".." not in p.split("/") and "." not in p.split("/")
)


@contextmanager
def _aws_config(folder: Path, text: str, environ: dict[str, str]) -> Iterator[None]:
    config = folder / "config"
    config.write_text(text)
    saved = {name: os.environ.get(name) for name in (*AWS_VARIABLES, "AWS_CONFIG_FILE")}
    for name in AWS_VARIABLES:
        os.environ.pop(name, None)
    os.environ.update({"AWS_CONFIG_FILE": str(config), **CREDENTIALS, **environ})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@given(
    bucket=_BUCKETS,
    endpoint=_ENDPOINTS,
    style=st.sampled_from([None, "auto", "path", "virtual"]),
    region=st.sampled_from(["us-east-1", "eu-west-1", "ap-southeast-2", "us-gov-west-1"]),
    prefix=_PREFIXES,
    key=st.from_regex(r"[A-Za-z0-9_-]{8,40}", fullmatch=True),
    from_env=st.booleans(),
)
def test_native_uploads_aim_where_botocore_sends(
    tmp_path_factory: pytest.TempPathFactory,
    bucket: str,
    endpoint: str | None,
    style: str | None,
    region: str,
    prefix: str,
    key: str,
    from_env: bool,
) -> None:
    """For any endpoint (flag or environment), addressing style, region, bucket (dotted
    too) and prefix, the native uploads either send a document exactly where botocore
    sends one of the same folder, or are not used at all. Nothing is sent: both URLs are
    made and signed locally."""  # fmt: skip
    folder = tmp_path_factory.mktemp("aws")
    profile = f"[default]\ns3 =\n  addressing_style = {style}\n" if style else ""
    env = {"AWS_ENDPOINT_URL": endpoint} if endpoint and from_env else {}
    flag = endpoint if endpoint and not from_env else None
    with _aws_config(folder, profile, env):
        store = Store(AwsOptions(endpoint_url=flag, region=region))
        client = store.client()
        folder_key = f"{prefix}config/"
        try:
            uploads = native_uploads(store, client, bucket, folder_key)
        except StorageError:
            return  # botocore itself refuses this configuration (e.g. virtual on an IP)
        if uploads is None:
            return  # botocore sends the documents: nothing to aim
        url = aim(client, bucket, folder_key).url
        expected = url.removesuffix(AIM) + quote(key, safe="")
        found = signed_url(uploads._store, folder_key + key)
    got, want = urlsplit(found), urlsplit(expected)
    assert (got.scheme, got.netloc, got.path) == (want.scheme, want.netloc, want.path)
