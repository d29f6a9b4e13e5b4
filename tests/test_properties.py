"""Generative tests: Hypothesis searches for the states and requests nobody listed.

Invariants: a publish exits 0 or 3 and never raises; on 3 the target is untouched and
no raw key is printed; on 0 every document is canonical and valid, and the YAML and
JSON spellings of one state give the same bytes. A hostile request to `serve` or
`receive` gets one well-formed answer or a clean close, and the server keeps answering.

`make test` runs the ci profile (100 examples per property, the same on every run);
`make fuzz` the fuzz one, 10,000 examples per property (tests/conftest.py).
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import assume, event, given
from hypothesis import strategies as st

from publisher.delivery.signatures import sign
from publisher.documents.render import canonical
from publisher.schemas import fast_validator
from publisher.servers.receive import ReceiveServer
from publisher.servers.serve import make_server
from publisher.settings import DEFAULT_CACHE_CONTROL
from publisher.state import load
from publisher.state.yaml_fast import Unusual
from tests.conftest import run_cli, tree

# --- states --------------------------------------------------------------------------

keys = st.text("0123456789abcdef", min_size=16, max_size=24).map(lambda s: f"key_{s}")
names = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,8}", fullmatch=True)
texts = st.text(min_size=0, max_size=12)
visible = st.characters(blacklist_categories=("Cs", "Cc", "Cf"))
"""What an identifier may hold: no invisible or direction-changing character (refused)."""
unit = st.one_of(st.integers(0, 1), st.floats(0, 1, allow_nan=False, allow_infinity=False))


@st.composite
def phases(draw: st.DrawFn, variations: int) -> dict[str, Any]:
    cuts = sorted(
        draw(st.lists(st.integers(0, 100), min_size=variations - 1, max_size=variations - 1))
    )
    weights = [(b - a) / 100 for a, b in zip([0, *cuts], [*cuts, 100], strict=True)]
    phase: dict[str, Any] = {"coverage": draw(unit), "weights": weights}
    groups = draw(st.lists(st.text(visible, min_size=1, max_size=6), unique=True, max_size=2))
    if groups:
        phase["groups"] = groups
    return phase


@st.composite
def experiments(draw: st.DrawFn, key: str) -> dict[str, Any]:
    count = draw(st.integers(2, 3))
    status = draw(st.sampled_from(["draft", "running", "stopped"]))
    exp: dict[str, Any] = {
        "key": key,
        "status": status,
        "variations": [f"v{i}" for i in range(count)],
    }
    exp["phases"] = draw(
        st.lists(phases(count), min_size=1 if status == "running" else 0, max_size=2)
    )
    if status == "stopped" and draw(st.booleans()):
        exp["winner"] = draw(st.integers(0, count - 1))
    if draw(st.booleans()):
        exp["archived"] = draw(st.booleans())
    if draw(st.booleans()):
        exp["url"] = draw(st.sampled_from(["^/post/[0-9]+$", "/checkout", "^/$"]))
    if draw(st.booleans()):
        exp["project"] = "p1"
    return exp


@st.composite
def states(draw: st.DrawFn) -> dict[str, Any]:
    """A valid state of one to three organizations."""
    org_ids = draw(st.lists(names, min_size=1, max_size=3, unique=True))
    all_keys = draw(st.lists(keys, min_size=len(org_ids), max_size=len(org_ids) * 2, unique=True))
    orgs = []
    for i, org_id in enumerate(org_ids):
        mine = all_keys[i :: len(org_ids)]
        api_keys = []
        for key in mine:
            entry: dict[str, Any] = {"key": key}
            if draw(st.booleans()):
                entry["description"] = draw(texts)
            if draw(st.booleans()):
                entry["project"] = "p1"
            if draw(st.integers(0, 4)) == 0:
                entry["revoked"] = True
            api_keys.append(entry)
        exp_keys = draw(st.lists(st.text(visible, min_size=1, max_size=8), max_size=3, unique=True))
        orgs.append(
            {
                "id": org_id,
                "api_keys": api_keys,
                "experiments": [draw(experiments(k)) for k in exp_keys],
            }
        )
    return {"version": 1, "organizations": orgs}


def state_keys(state: dict[str, Any]) -> list[str]:
    return [k["key"] for o in state["organizations"] for k in o["api_keys"]]


# Text mutations: what a careless operator or an attacker does to a file.
YAML_MUTATIONS = [
    lambda t, r: t.replace("coverage: ", "coverage: .nan #", 1),
    lambda t, r: t.replace("coverage: ", "coverage: 1" + "0" * r.randint(20, 5000) + " #", 1),
    lambda t, r: t.replace("coverage: ", "coverage: 1e999 #", 1),
    lambda t, r: t.replace(
        "description: ", "description: 2024-01-0" + str(r.randint(1, 9)) + " #", 1
    ),
    lambda t, r: t.replace("description: ", "description: !!binary aGVsbG8= #", 1),
    lambda t, r: t.replace("description: ", "description: !foo #", 1),
    lambda t, r: t.replace("description: ", "description: !!python/object:os.system #", 1),
    lambda t, r: t.replace("status: ", "status: &s [*s] #", 1),
    lambda t, r: (
        "a: &a [x,x,x,x,x,x,x,x]\n"
        + "".join(
            f"a{i}: &a{i} [{','.join(['*a' if i == 0 else f'*a{i - 1}'] * 8)}]\n" for i in range(8)
        )
        + t.replace("organizations:", "bomb: *a7\norganizations:", 1)
    ),
    lambda t, r: t.replace("variations:", "variations: " + "[" * r.randint(60, 1200) + "]" * 0, 1),
    lambda t, r: t.replace("- key: ", "- ? [a]\n  : ", 1),
    lambda t, r: t.replace("- key: ", "- key_", 1),
    lambda t, r: t.replace("key: ", "key: ' ", 1),
    lambda t, r: "\n".join(line for i, line in enumerate(t.splitlines()) if i != r.randint(0, 30)),
    lambda t, r: "\n".join(
        line + ("\n" + line if i == r.randint(0, 30) else "")
        for i, line in enumerate(t.splitlines())
    ),
    lambda t, r: t.replace("weights:", "weights: !!str", 1),
    lambda t, r: t.replace("id: ", "id: \u202e\x1b[31m", 1),
    lambda t, r: t.replace("version: 1", "version: 1\n" + "x:\n" * r.randint(1, 3), 1),
    lambda t, r: t[: r.randint(0, len(t))],
    lambda t, r: t.replace("coverage: ", "coverage: '0.5' #", 1),
    lambda t, r: t.replace("archived: ", "archived: yes #", 1),
    lambda t, r: t.replace("project: ", "project: ~ #", 1),
    lambda t, r: t.replace("coverage: ", "coverage: !!float 1 #", 1),
    lambda t, r: t.replace("- key: ", "- <<: {key: k}\n  key: ", 1),
    lambda t, r: t.replace("organizations:", "organizations: &o", 1),
    lambda t, r: t.replace("version: 1", "--- \nversion: 1", 1) + "\n...\n---\nversion: 1\n",
]
JSON_MUTATIONS = [
    lambda t, r: t.replace('"coverage": ', '"coverage": NaN, "x": ', 1),
    lambda t, r: t.replace('"coverage": ', '"coverage": -Infinity, "x": ', 1),
    lambda t, r: t.replace(
        '"coverage": ', '"coverage": 1' + "0" * r.randint(20, 6000) + ', "x": ', 1
    ),
    lambda t, r: t.replace('"variations": ', '"variations": ' + "[" * r.randint(100, 3000), 1),
    lambda t, r: t.replace('"key": "', '"key": "\\n', 1),
    lambda t, r: t.replace('"key": "', '"key": "\\ud800', 1),
    lambda t, r: t.replace('"id": ', '"id": 1, "id": ', 1),
    lambda t, r: t.replace('"status": "', '"status": "\\u0000', 1),
    lambda t, r: t[: r.randint(0, len(t))],
    lambda t, r: t.replace("[", "{", 1),
]


def publish(state_path: Path, target: Path) -> Any:
    return run_cli("publish", state_path, "--target", target)


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="prop-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def fresh(workdir: Path) -> Path:
    for child in workdir.iterdir():
        shutil.rmtree(child) if child.is_dir() else child.unlink()
    return workdir


@pytest.mark.usefixtures("quick_upload_looks")
@given(state=states())
def test_valid_states_publish_canonical_documents_yaml_and_json_alike(
    workdir: Path, state: dict[str, Any]
) -> None:
    """A valid state publishes (exit 0); YAML and JSON give the same canonical, valid bytes."""
    fresh(workdir)
    as_yaml = workdir / "s.yaml"
    # Escaped: PyYAML writes some characters (NEL, U+0085) raw, which YAML then folds.
    as_yaml.write_text(yaml.safe_dump(state, allow_unicode=False), encoding="utf-8")
    as_json = workdir / "s.json"
    as_json.write_text(json.dumps(state, ensure_ascii=False), encoding="utf-8")
    first = publish(as_yaml, workdir / "a")
    second = publish(as_json, workdir / "b")
    if first.exit_code == 3:  # a generated state can break a rule (e.g. a bad regex): both say so
        assert second.exit_code == 3
        assert not (workdir / "a").exists() and not (workdir / "b").exists()
        return
    assert first.exit_code == 0, first.stderr
    assert second.exit_code == 0, second.stderr
    docs_a = {k: v for k, v in tree(workdir / "a").items() if k.startswith("config/")}
    docs_b = {k: v for k, v in tree(workdir / "b").items() if k.startswith("config/")}
    assert docs_a == docs_b
    live = {k["key"] for o in state["organizations"] for k in o["api_keys"] if not k.get("revoked")}
    assert set(docs_a) == {f"config/{k}" for k in live}
    for body in docs_a.values():
        value = json.loads(body)
        assert canonical(value) == body
        assert fast_validator("overrides").is_valid(value)


@pytest.mark.usefixtures("quick_upload_looks")
@given(
    state=states(),
    fmt=st.sampled_from(["yaml", "json"]),
    picks=st.lists(st.integers(0, 100), min_size=1, max_size=3),
    seed=st.randoms(use_true_random=False),
)
def test_mutated_states_exit_0_or_3_and_never_leak(
    workdir: Path, state: dict[str, Any], fmt: str, picks: list[int], seed: Any
) -> None:
    """A mutated state exits 0 or 3, never raises; on 3 nothing is written and no key shown."""
    fresh(workdir)
    if fmt == "yaml":
        text = yaml.safe_dump(state, allow_unicode=True)
        mutations = YAML_MUTATIONS
    else:
        text = json.dumps(state, indent=1, ensure_ascii=False)
        mutations = JSON_MUTATIONS
    for pick in picks:
        text = mutations[pick % len(mutations)](text, seed)
    path = workdir / f"s.{fmt}"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    target = workdir / "out"
    result = publish(path, target)  # raises (fails the test) on a traceback
    event(f"exit {result.exit_code}")
    assert result.exit_code in (0, 3), result.stderr
    if result.exit_code == 3:
        assert not target.exists()
        shown = result.stdout + result.stderr
        for key in state_keys(state):
            assert key not in shown
        assert all(re.match(r"(error: |  )", line) for line in result.stderr.splitlines())


@given(
    state=states(),
    picks=st.lists(st.integers(0, 100), min_size=0, max_size=2),
    seed=st.randoms(use_true_random=False),
)
def test_the_quick_yaml_read_agrees_with_the_careful_one(
    state: dict[str, Any], picks: list[int], seed: Any
) -> None:
    """The quick YAML read builds exactly what the careful builder builds, or steps aside:
    it never accepts a file the careful builder refuses."""
    text = yaml.safe_dump(state, allow_unicode=True)
    for pick in picks:
        text = YAML_MUTATIONS[pick % len(YAML_MUTATIONS)](text, seed)
    try:
        quick = load._parse_yaml_fast(text, "sha")
    except Unusual:
        event("quick read stepped aside")
        return
    event("quick read accepted")
    assert load._parse_yaml_careful(text, "s.yaml", "sha") == quick


# --- hostile requests ------------------------------------------------------------------

methods = st.sampled_from(
    ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PURGE", "get", "G\x00T", ""]
)
paths = st.one_of(
    st.sampled_from(
        ["/config/key_aaaaaaaaaaaaaaaa", "/config/", "/", "/config/..%2f..", "//config//x"]
    ),
    st.text(st.characters(blacklist_characters="\r\n"), max_size=40).map(lambda s: "/" + s),
)
header_values = st.one_of(
    st.sampled_from(["0", "5", "-1", "\xb2", "9" * 30, " 10", "1e3", "chunked", "gzip"]),
    st.text(st.characters(blacklist_characters="\r\n"), max_size=20),
)
header_names = st.sampled_from(["Connection", "If-None-Match", "X-Junk", "Host", "Expect"])


@st.composite
def raw_requests(draw: st.DrawFn) -> bytes:
    method = draw(methods)
    path = draw(paths)
    version = draw(st.sampled_from(["HTTP/1.1", "HTTP/1.0", "HTTP/9.9", ""]))
    headers = draw(st.lists(st.tuples(header_names, header_values), max_size=5))
    body = draw(st.binary(max_size=300))
    if draw(st.booleans()):  # a second request smuggled in the body
        body += b"GET /config/key_aaaaaaaaaaaaaaaa HTTP/1.1\r\nHost: x\r\n\r\n"
    # The framing says where the request ends (bytes past a correct framing are a second
    # request by HTTP's rules, so they are not sent): exact, too long, malformed, chunked.
    framing = draw(st.sampled_from(["exact", "long", "\xb2", "-1", "1e3", "9" * 30, "chunked"]))
    if not body and framing == "exact":
        pass
    elif framing == "exact":
        headers.append(("Content-Length", str(len(body))))
    elif framing == "long":
        headers.append(("Content-Length", str(len(body) + 50)))
    elif framing == "chunked":
        headers.append(("Transfer-Encoding", "chunked"))
    else:
        headers.append(("Content-Length", framing))
    head = f"{method} {path} {version}\r\n" + "".join(f"{n}: {v}\r\n" for n, v in headers)
    return head.encode("utf-8", "surrogatepass") + b"\r\n" + body


def exchange(port: int, raw: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        try:
            sock.sendall(raw)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


STATUS_LINE = re.compile(rb"HTTP/1\.[01] [1-5][0-9][0-9] ")


def one_answer_or_close(answer: bytes) -> None:
    if not answer:
        return  # a clean close
    assert STATUS_LINE.match(answer), answer[:200]
    assert len(STATUS_LINE.findall(answer)) == 1, answer[:400]


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[int, int]]:
    root = Path(tempfile.mkdtemp(prefix="served-"))
    (root / "config").mkdir()
    (root / "config" / "key_aaaaaaaaaaaaaaaa").write_bytes(b'{"status":200,"overrides":{}}')
    serve = make_server(root, "127.0.0.1", 0, DEFAULT_CACHE_CONTROL)
    serve.set_limits(max_connections=16, deadline=5)
    receive = ReceiveServer("127.0.0.1", 0, "s3cret", root / "pushed.json")
    receive.set_limits(max_connections=16, deadline=5)
    for server in (serve, receive):
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield serve.server_port, receive.server_port
    for server in (serve, receive):
        server.shutdown()
        server.server_close()
    shutil.rmtree(root, ignore_errors=True)


@given(raw=raw_requests())
def test_hostile_requests_to_serve(servers: tuple[int, int], raw: bytes) -> None:
    """Any request to serve: one well-formed answer or a close; serve keeps answering."""
    port, _ = servers
    one_answer_or_close(exchange(port, raw))
    ok = exchange(port, b"GET /config/key_aaaaaaaaaaaaaaaa HTTP/1.1\r\nHost: x\r\n\r\n")
    assert ok.startswith(b"HTTP/1.1 200 ")


@given(
    raw=raw_requests(),
    body=st.one_of(
        st.binary(max_size=200),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.text(max_size=5), inner, max_size=3)
            ),
            max_leaves=10,
        ).map(lambda v: json.dumps({"timestamp": int(time.time()), "overrides": v}).encode()),
    ),
    signed=st.booleans(),
)
def test_hostile_requests_to_receive(
    servers: tuple[int, int], raw: bytes, body: bytes, signed: bool
) -> None:
    """Any request or signed body to receive: one answer or a close; it keeps answering."""
    _, port = servers
    one_answer_or_close(exchange(port, raw))
    headers = sign("s3cret" if signed else "wrong", body).headers
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = f"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{head}\r\n".encode()
    answer = exchange(port, request + body)
    one_answer_or_close(answer)
    assume(answer)
    assert answer[9:12] in (b"200", b"400", b"401", b"409", b"413")
    good = json.dumps({"timestamp": int(time.time()), "overrides": {}}).encode()
    head = "".join(f"{k}: {v}\r\n" for k, v in sign("s3cret", good).headers.items())
    request = f"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {len(good)}\r\n{head}\r\n".encode()
    assert exchange(port, request + good)[9:12] in (b"200", b"409")


def test_a_plain_state_takes_the_quick_read() -> None:
    """The bench's generated state (plain YAML) is read by the quick path, not stepped aside."""
    from bench.generate import generate

    text = yaml.safe_dump(generate(300, 60, seed=3), allow_unicode=True)
    quick = load._parse_yaml_fast(text, "sha")
    assert sum(len(o.api_keys) for o in quick.organizations) == 300
    assert quick == load._parse_yaml_careful(text, "s.yaml", "sha")
