"""A full scan lists disjoint key ranges side by side, and misses nothing.

The ranges come from `scan_bounds` in the manifest (a few key prefixes, each no longer
than a label shows). Whatever the bounds, the ranges together must list exactly what
one sequential listing lists: a table of bounds on moto's real server, and any bounds
Hypothesis draws on SortedBucket, an in-memory listing whose pages the table checks
against moto's (moto takes about 10 ms a listing request, too slow for 100 examples of
a dozen requests each).
"""

from __future__ import annotations

import hashlib
import json
import random
import string
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from publisher.aws import AwsOptions, S3Bucket, client
from publisher.bookkeeping.manifest import (
    KEYS_PER_RANGE,
    Manifest,
    NewGeneration,
    build_manifest,
    parse_manifest,
    scan_bounds,
)
from publisher.publishing.run import sync_target
from publisher.redact import KEY_NAME, shown_prefix
from publisher.settings import PublishOptions
from publisher.targets.directory import LocalTarget
from publisher.targets.listing_ranges import list_ranges
from publisher.targets.s3_target import S3Target, parse_s3_url
from tests.conftest import base_state, dump_state, run_cli
from tests.s3util import CREDENTIALS, Proxy, count, moto_server, s3_client

ALPHABET = string.ascii_letters + string.digits + "_-"
UNMANAGED = [
    "README", "a b", "ключ-не-наш", "key.json", "~tilde-after-all", "0",
    "a&amp;b", "<Key>x</Key>", "q\"u'o&t<e>s", "tab\there", "&#13;",
]  # fmt: skip


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture(scope="module")
def credentials() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in CREDENTIALS.items():
            patch.setenv(name, value)
        yield


PAGE_SIZE = 100
"""Names a listing page holds in these tests (S3 sends up to 1,000 a page, and may send
fewer): several pages out of a bucket moto fills in a second or two, where the two pages
of 1,000 took a 1,100-name bucket 5-7 s to fill."""


def shaped_names(count: int) -> set[str]:
    """Document names of every shape, and some as short as a bound (ties)."""
    rng = random.Random(7)
    names = {
        rng.choice(["key_", "", "K-", "zz_", "-", "_"])
        + "".join(rng.choice(ALPHABET) for _ in range(rng.randint(8, 30)))
        for _ in range(count)
    }
    names |= {"key_0000", "Abcdefgh", "zz_00000", "--------"}
    return {n for n in names if KEY_NAME.fullmatch(n)}


def _pages_of(size: int) -> Any:
    """A botocore hook asking for ListObjectsV2 pages of `size` names at most."""

    def ask(params: dict[str, Any], **kwargs: Any) -> None:
        params.setdefault("MaxKeys", size)

    return ask


BODY_ETAG = hashlib.md5(b"{}").hexdigest()
"""Every object's body is `{}`; its ETag, the MD5 of the body."""


class SortedBucket:
    """The listing half of an S3 client over a sorted list of object names, answering
    ListObjectsV2 as moto does (Prefix, StartAfter, pages of PAGE_SIZE, IsTruncated and
    the continuation token; test_ranges_on_moto_list_exactly_what_one_listing_lists
    checks its pages against moto's): a property can list it hundreds of times in the
    time moto answers a few dozen pages."""

    def __init__(self, keys: Sequence[str]) -> None:
        self.keys = sorted(keys)  # str order is UTF-8 byte order, S3's

    def list_objects_v2(
        self, *, Bucket: str, Prefix: str, StartAfter: str = "", ContinuationToken: str = ""
    ) -> dict[str, Any]:
        after = ContinuationToken or StartAfter
        rest = [k for k in self.keys if k.startswith(Prefix) and k > after]
        page = rest[:PAGE_SIZE]
        answer: dict[str, Any] = {
            "Contents": [{"Key": k, "ETag": f'"{BODY_ETAG}"'} for k in page],
            "IsTruncated": len(rest) > PAGE_SIZE,
        }
        if answer["IsTruncated"]:
            answer["NextContinuationToken"] = page[-1]
        return answer

    def get_paginator(self, operation: str) -> Any:
        assert operation == "list_objects_v2"
        bucket = self

        class Pages:
            def paginate(self, **params: Any) -> Iterator[dict[str, Any]]:
                token = ""
                while True:
                    page = bucket.list_objects_v2(**params, ContinuationToken=token)
                    yield page
                    if not page["IsTruncated"]:
                        return
                    token = page["NextContinuationToken"]

        return Pages()


def sorted_target(names: set[str]) -> S3Target:
    """s3://ranges/site over SortedBucket holding `names` and the unmanaged names."""
    keys = [f"site/config/{n}" for n in [*names, *UNMANAGED]]
    bucket = S3Bucket(SortedBucket(keys), "ranges", "SortedBucket")
    return S3Target(parse_s3_url("s3://ranges/site"), bucket)


@pytest.fixture(scope="module")
def filled(endpoint: str, credentials: None) -> tuple[S3Target, dict[str, Any], set[str]]:
    """A bucket of 330 document names of every shape (four pages), and a few others."""
    names = shaped_names(330)
    s3: Any = s3_client(endpoint)
    s3.create_bucket(Bucket="ranges")
    with ThreadPoolExecutor(16) as pool:
        for name in [*names, *UNMANAGED]:
            pool.submit(s3.put_object, Bucket="ranges", Key=f"site/config/{name}", Body=b"{}")
    listing = client("s3", AwsOptions(endpoint, "us-east-1"))
    listing.meta.events.register("provide-client-params.s3.ListObjectsV2", _pages_of(PAGE_SIZE))
    target = S3Target(parse_s3_url("s3://ranges/site"), S3Bucket(listing, "ranges", endpoint))
    one_listing = target.list_live(())
    assert set(one_listing) == names  # managed names only, each once
    # The quick read of each page (aws/listing.py) gives what botocore's own parse gives.
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket="ranges", Prefix="site/config/")
    botocore_read = [(o["Key"], o["ETag"].strip('"')) for p in pages for o in p["Contents"]]
    quick = [(o.key, o.etag) for o in target.bucket.list_objects("site/config/")]
    assert quick == botocore_read
    assert len(quick) == len(names) + len(UNMANAGED)
    return target, one_listing, names


bound = st.one_of(
    st.text(ALPHABET, min_size=1, max_size=8),
    st.sampled_from(["key_0000", "Abcdefgh", "zz_00000", "--------", "key_", "zz", "-"]),
)
bounds_lists = st.lists(bound, max_size=6).map(lambda b: tuple(sorted(set(b))))


def assert_ranges_list_what_one_listing_lists(
    target: S3Target, one_listing: dict[str, Any], bounds: tuple[str, ...]
) -> None:
    assert target.list_live(bounds) == one_listing
    # Range by range: every object once, in order, none listed by two ranges.
    edges = [None, *bounds, None]
    parts = [
        o.key
        for lo, hi in pairwise(edges)
        for o in target.bucket.list_objects("site/config/", lo, hi)
    ]
    assert parts == [o.key for o in target.bucket.list_objects("site/config/")]


@pytest.mark.parametrize(
    "bounds",
    [
        (),
        ("key_0000",),  # a bound that is a name
        ("-", "key_", "zz"),
        ("--------", "Abcdefgh", "key_0000", "zz_00000"),
        ("0", "K-", "_", "a", "key_M", "zz_"),
        ("--", "---", "K", "Ka", "Kb", "zzzzzzzz"),
        ("~",),  # after every name: the last range is empty
    ],
)
def test_ranges_on_moto_list_exactly_what_one_listing_lists(
    filled: tuple[S3Target, dict[str, Any], set[str]], bounds: tuple[str, ...]
) -> None:
    """On moto's server: the ranges list what one listing lists, and SortedBucket's pages
    are moto's, from the first and from after each bound."""
    target, one_listing, names = filled
    assert_ranges_list_what_one_listing_lists(target, one_listing, bounds)
    like_moto = sorted_target(names).bucket
    for after in (None, *bounds):
        page, more = target.bucket.list_page("site/config/", after)
        assert (page, more) == like_moto.list_page("site/config/", after)


@pytest.fixture(scope="module")
def sorted_bucket() -> tuple[S3Target, dict[str, Any]]:
    """The S3 target over SortedBucket with the names `filled` puts in moto."""
    target = sorted_target(shaped_names(330))
    return target, target.list_live(())


@given(bounds=bounds_lists)
def test_ranges_list_exactly_what_one_listing_lists(
    sorted_bucket: tuple[S3Target, dict[str, Any]], bounds: tuple[str, ...]
) -> None:
    """Any bounds, on a bucket answering as moto does (SortedBucket): the ranges side by
    side or stitched list every document once, and range by range each in one range."""
    assert_ranges_list_what_one_listing_lists(*sorted_bucket, bounds)


def test_bounds_split_the_keys_evenly_and_show_no_more_than_a_label() -> None:
    rng = random.Random(1)
    keys = [
        "key_" + "".join(rng.choice("0123456789abcdef") for _ in range(32)) for _ in range(100_000)
    ]
    bounds = scan_bounds(keys)
    assert len(bounds) == 100_000 // KEYS_PER_RANGE - 1
    assert all(len(b) == len(shown_prefix(keys[0])) == 8 for b in bounds)
    assert all(any(k.startswith(b) for k in keys) for b in bounds)
    edges = [None, *bounds, None]
    sizes = [
        sum(1 for k in keys if (lo is None or k > lo) and (hi is None or k <= hi))
        for lo, hi in pairwise(edges)
    ]
    assert sum(sizes) == len(keys)
    assert all(abs(size - KEYS_PER_RANGE) < KEYS_PER_RANGE // 10 for size in sizes), sizes
    assert scan_bounds(keys[: 2 * KEYS_PER_RANGE - 1]) == ()  # one range: a single listing


@pytest.mark.parametrize(
    "stored",
    [["key_1", "key_8"], "key_1", ["x" * 9], [1, 2], ["key_" + str(i) for i in range(17)]],
)
def test_the_manifest_keeps_good_bounds_and_ignores_bad_ones(stored: Any) -> None:
    _, body, _ = build_manifest(Manifest(), NewGeneration({}, "s"), bounds=("key_1", "key_8"))
    assert parse_manifest(body).scan_bounds == ("key_1", "key_8")
    data = json.loads(body)
    data["scan_bounds"] = stored
    manifest = parse_manifest(json.dumps(data).encode())
    assert manifest.intact  # the bounds are a hint: never a reason to distrust the manifest
    assert manifest.scan_bounds == (tuple(stored) if stored == ["key_1", "key_8"] else ())


def test_a_full_scan_lists_the_manifests_ranges_side_by_side(
    endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three bounds, four ranges: four listings, a deleted document repaired, no other PUT."""
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    s3: Any = s3_client(endpoint)
    s3.create_bucket(Bucket="ranged")
    state = dump_state(tmp_path / "s.yaml", _state_of(40))
    assert (
        run_cli("publish", state, "--target", "s3://ranged", "--endpoint-url", endpoint).exit_code
        == 0
    )
    manifest = json.loads(
        s3.get_object(Bucket="ranged", Key="_publisher/manifest.json")["Body"].read()
    )
    manifest["scan_bounds"] = ["key_1", "key_5", "key_a"]
    s3.put_object(Bucket="ranged", Key="_publisher/manifest.json", Body=json.dumps(manifest))
    s3.delete_object(Bucket="ranged", Key="config/key_5000000000000000")
    proxy = Proxy(endpoint)
    try:
        result = run_cli(
            "publish",
            state,
            "--target",
            "s3://ranged",
            "--endpoint-url",
            proxy.url,
            "--full-scan",
            "--json",
        )
        requests = proxy.reset()
    finally:
        proxy.close()
    assert result.exit_code == 0, result.stderr
    lists = [path for method, path, _ in requests if method == "GET" and "list-type=2" in path]
    assert len(lists) == 4, lists
    assert sum("start-after=" in path for path in lists) == 3
    assert count(requests, "PUT", "/config/") == 1
    assert json.loads(result.stdout)["counts"]["added"] == 1
    assert s3.get_object(Bucket="ranged", Key="config/key_5000000000000000")["Body"].read()


def _state_of(keys: int) -> dict[str, Any]:
    """One organization, `keys` keys spread over the hex alphabet, one running experiment."""
    return {
        "version": 1,
        "organizations": [
            {
                "id": "org-1",
                "api_keys": [{"key": f"key_{i:x}" + "0" * 15} for i in range(keys)],
                "experiments": [
                    {
                        "key": "exp",
                        "status": "running",
                        "variations": ["a", "b"],
                        "phases": [{"coverage": 1, "weights": [0.5, 0.5]}],
                    }
                ],
            }
        ],
    }


PAGE = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name>'
    b"<Prefix>config/</Prefix><KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys>"
    b"<IsTruncated>false</IsTruncated>"
    b"<Contents><Key>config/key_aaaaaaaaaaaa</Key><LastModified>2026-11-27T00:00:00.000Z"
    b"</LastModified><ETag>&quot;0123456789abcdef0123456789abcdef&quot;</ETag><Size>3</Size>"
    b"</Contents>\n  <Contents><ETag>&quot;fedcba9876543210fedcba9876543210&quot;</ETag>"
    b"<Key>config/a%26b</Key><Size>3</Size></Contents>"
    b"<EncodingType>url</EncodingType></ListBucketResult>"
)
ERROR_IN_200 = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code>'
    b"<Message>We encountered an internal error.</Message></Error>"
)


@pytest.mark.parametrize(
    "first",
    [PAGE[: PAGE.index(b"</Contents>")], ERROR_IN_200],
    ids=["cut-short", "error-in-200"],
)
def test_a_page_cut_short_or_an_error_in_a_200_is_retried(first: bytes, credentials: None) -> None:
    """The quick read of a page leaves botocore's check in place: a body cut short, or
    an error sent with a 200, is retried; the good page then reads as botocore reads it
    (any order of fields, entities and URL-encoded names decoded)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    bodies = [first, PAGE]
    served: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            body = bodies.pop(0) if bodies else PAGE
            served.append(body)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}"
        bucket = S3Bucket(client("s3", AwsOptions(endpoint, "us-east-1")), "b", endpoint)
        listed = [(o.key, o.etag) for o in bucket.list_objects("config/")]
    finally:
        server.shutdown()
    assert served == [first, PAGE]
    assert listed == [
        ("config/key_aaaaaaaaaaaa", "0123456789abcdef0123456789abcdef"),
        ("config/a&b", "fedcba9876543210fedcba9876543210"),
    ]


def test_the_quick_read_takes_the_objects_out_of_the_page() -> None:
    from publisher.aws.listing import quick_contents

    response: dict[str, Any] = {"status_code": 200, "body": PAGE}
    parsed: dict[str, Any] = {}
    quick_contents(response, parsed)
    assert b"<Contents>" not in response["body"]
    assert b"<IsTruncated>false</IsTruncated>" in response["body"]
    assert [o["Key"] for o in parsed["Contents"]] == ["config/key_aaaaaaaaaaaa", "config/a%26b"]
    for body in (PAGE[:-30], ERROR_IN_200, PAGE.replace(b"<Key>config/a%26b</Key>", b"")):
        response, parsed = {"status_code": 200, "body": body}, {}
        quick_contents(response, parsed)
        assert response["body"] == body and not parsed  # left whole for botocore


class FakeStore:
    """Sorted names, pages of `size`, every request counted."""

    def __init__(self, names: list[str], size: int) -> None:
        self.names, self.size, self.requests = sorted(names), size, 0

    def page(self, after: str | None) -> tuple[list[tuple[str, str]], bool]:
        self.requests += 1
        rest = [n for n in self.names if after is None or n > after]
        return [(n, "e") for n in rest[: self.size]], len(rest) > self.size


names_lists = st.lists(st.text(ALPHABET, min_size=1, max_size=6), max_size=60, unique=True)


# Three times the profile's examples (300 in make test): no I/O, a few ms an example.
@settings(max_examples=3 * settings.default.max_examples)
@given(names=names_lists, bounds=bounds_lists, size=st.integers(1, 7), together=st.booleans())
def test_any_bounds_list_every_name_side_by_side_or_stitched(
    names: list[str], bounds: tuple[str, ...], size: int, together: bool
) -> None:
    store = FakeStore(names, size)
    listed, _ = list_ranges(store.page, bounds, together)
    assert listed == {n: "e" for n in names}
    sequential = FakeStore(names, size)
    list_ranges(sequential.page, ())
    if not together:  # one chain: at most one request more per range than one listing
        assert store.requests <= sequential.requests + len(bounds)


def test_the_store_answering_one_at_a_time_or_together_is_told_apart() -> None:
    """A local server bound by its CPU answers the ranges' first pages one after another:
    the rest is one chain. A store far away answers them together: side by side."""
    names = [f"key_{i:05d}" for i in range(1_000)]
    bounds = ("key_00250", "key_00500", "key_00750")
    lock = threading.Lock()
    serial_store = FakeStore(names, 50)

    def serial(after: str | None) -> tuple[list[tuple[str, str]], bool]:
        with lock:
            time.sleep(0.02)
            return serial_store.page(after)

    listed, together = list_ranges(serial, bounds)
    assert listed == {n: "e" for n in names}
    assert together is False
    assert serial_store.requests <= 20 + 3  # one listing: 20 pages

    def parallel(after: str | None) -> tuple[list[tuple[str, str]], bool]:
        time.sleep(0.02)
        return FakeStore(names, 50).page(after)

    listed, together = list_ranges(parallel, bounds)
    assert listed == {n: "e" for n in names}
    assert together is True
    assert list_ranges(parallel, ())[1] is None  # one range: nothing to tell


def test_ranges_that_did_not_pay_are_not_kept_for_the_next_full_scan(tmp_path: Path) -> None:
    state = tmp_path / "s.yaml"
    dump_state(state, base_state())
    assert run_cli("publish", state, "--target", tmp_path / "t").exit_code == 0
    path = tmp_path / "t" / "_publisher" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["scan_bounds"] = ["key_m"]  # not under the digest: still intact
    path.write_text(json.dumps(manifest))

    class OneAtATime(LocalTarget):
        def list_live(self, bounds: Sequence[str] = ()) -> dict[str, Any]:
            assert tuple(bounds) == ("key_m",)
            self.ranges_pay = False
            return super().list_live(bounds)

    sync_target(state, OneAtATime(tmp_path / "t"), PublishOptions(full_scan=True))
    assert json.loads(path.read_text())["scan_bounds"] == []
