"""`make bench`: measure the publisher beside its floors and peers, in one run.

    python bench/run.py --size small|medium|large [--out bench/results.json] [--skip-sync]

Everything runs against one local moto S3 server on 127.0.0.1, each workload in its
own process so none shares an interpreter with the server. Figures are ratios of
workloads measured side by side in this run; absolute times on a shared machine mean
little.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from bench import daily, headers, nulls3, peers  # noqa: E402
from bench.generate import SIZES, first_keys, generate  # noqa: E402
from tests.s3util import Proxy, count  # noqa: E402

BIN = Path(sys.executable).parent
AWS = ROOT / "bench" / ".awscli" / "bin" / "aws"
COLD_LIMIT = 10_000  # a local moto server takes ~150-300 PUTs/s: cold runs use this many keys
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def env() -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return {**clean, **CREDENTIALS}


def timed(cmd: list[str], **kw: Any) -> dict[str, Any]:
    """Run a command; return its wall time and output, and the publisher's own peak RSS."""
    peak_file = Path(os.environ.get("TMPDIR", "/tmp")) / f"publisher-peak-{os.getpid()}"
    peak_file.unlink(missing_ok=True)
    extra = {**kw.get("extra_env", {}), "PEAK_FILE": str(peak_file)}
    start = time.perf_counter()
    proc = subprocess.run(cmd, env={**env(), **extra}, capture_output=True)
    wall = time.perf_counter() - start
    rss = int(peak_file.read_text()) / 1024 if peak_file.exists() else 0.0
    peak_file.unlink(missing_ok=True)
    result = {
        "wall_s": wall,
        "rss_mib": rss,
        "code": proc.returncode,
        "stdout": proc.stdout.decode(),
        "stderr": proc.stderr.decode(),
    }
    if proc.returncode != 0:
        raise SystemExit(
            f"{' '.join(cmd[:4])}... exited {proc.returncode}:\n{result['stderr'][-3000:]}"
        )
    return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1)
            return proc, url
        except OSError:
            time.sleep(0.05)
    raise SystemExit("moto_server did not start")


def publish_to(state: Path, bucket: str, endpoint: str, concurrency: str) -> list[str]:
    """The publisher command that publishes `state` to s3://bucket, with --json."""
    return publisher(
        "publish",
        str(state),
        "--target",
        f"s3://{bucket}",
        "--endpoint-url",
        endpoint,
        "--concurrency",
        concurrency,
        "--json",
    )


def reset_moto(endpoint: str) -> None:
    request = urllib.request.Request(endpoint + "/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=30).read()


def publisher(*args: str) -> list[str]:
    return [sys.executable, str(ROOT / "bench" / "peak.py"), *args]


def make_bucket(endpoint: str, name: str) -> None:
    import boto3

    boto3.client(
        "s3",
        endpoint_url=endpoint,
        **{k.lower(): v for k, v in CREDENTIALS.items() if k != "AWS_DEFAULT_REGION"},
        region_name="us-east-1",
    ).create_bucket(Bucket=name)


def change_one_org(state: dict[str, Any]) -> tuple[dict[str, Any], str, str, list[str]]:
    """Change one running experiment of one organization; return the keys that must be PUT.

    Prefers the organization with the most keys among those whose every key sees the
    experiment, so the expected count is that organization's key count.
    """
    best: tuple[int, int, dict[str, Any], dict[str, Any]] | None = None
    for org in state["organizations"]:
        active = [k for k in org["api_keys"] if not k.get("revoked")]
        for exp in org["experiments"]:
            if exp["status"] != "running" or exp.get("archived"):
                continue
            seeing = [
                k for k in active if not k.get("project") or k.get("project") == exp.get("project")
            ]
            if not seeing:
                continue
            rank = (len(seeing) == len(active), len(seeing))
            if best is None or rank > best[:2]:
                best = (*rank, org, exp)  # type: ignore[assignment]
    assert best is not None, "no running experiment is seen by any key"
    _, _, org, exp = best
    phase = exp["phases"][-1]
    phase["coverage"] = 0.5 if phase["coverage"] != 0.5 else 0.25
    seeing = [
        k["key"]
        for k in org["api_keys"]
        if not k.get("revoked") and (not k.get("project") or k.get("project") == exp.get("project"))
    ]
    return state, org["id"], exp["key"], seeing


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results.json")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--skip-sync", action="store_true", help="do not run aws s3 sync (no awscli)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="rounds of each side-by-side timing (cold publish, state load, full scan), "
        "order alternating",
    )
    parser.add_argument(
        "--work", type=Path, default=None, help="scratch folder (default bench/work/SIZE)"
    )
    parser.add_argument("--cold-only", action="store_true", help="stop after the cold-publish runs")
    parser.add_argument("--skip-cold", action="store_true", help="leave out the cold-publish runs")
    parser.add_argument(
        "--skip-null-s3", action="store_true", help="leave out the null-S3 comparison (nulls3.py)"
    )
    parser.add_argument(
        "--null-s3-in-flight",
        type=int,
        nargs="+",
        default=None,
        help="null-S3 uploads in flight swept (default 32 128 256 480; 32 at tiny)",
    )
    parser.add_argument(
        "--skip-full-scan", action="store_true", help="leave out the full-scan timings (daily.py)"
    )
    parser.add_argument(
        "--latency-ms", type=float, default=30.0, help="added per request in the full-scan runs"
    )
    args = parser.parse_args()
    nulls3.compiled()  # every publisher process loads bytecode, as an installed one does
    os.environ.update(CREDENTIALS)  # for the driver's own checks (bench/daily.py)
    work = args.work or ROOT / "bench" / "work" / args.size
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    keys, orgs = SIZES[args.size]
    print(f"generating {args.size}: {keys:,} keys over {orgs:,} organizations", flush=True)
    state = generate(keys, orgs, seed=1)
    full = work / "state.json"
    full.write_text(json.dumps(state, separators=(",", ":")))
    cold_state = first_keys(state, COLD_LIMIT) if keys > COLD_LIMIT else state
    cold = work / "state-cold.json"
    cold.write_text(json.dumps(cold_state, separators=(",", ":")))
    cold_keys = sum(len(o["api_keys"]) for o in cold_state["organizations"])
    results: dict[str, Any] = {
        "size": args.size,
        "latency_ms": args.latency_ms,
        "keys": keys,
        "organizations": orgs,
        "cold_keys": cold_keys,
        "concurrency": args.concurrency,
        "cpus": os.cpu_count(),
    }

    print("render+validate vs json.dumps floor", flush=True)
    measured = json.loads(
        timed([sys.executable, str(ROOT / "bench" / "measure_render.py"), str(full)])["stdout"]
    )
    results["render"] = measured

    print("loading the state: YAML beside JSON (publisher validate, whole processes)", flush=True)
    as_yaml = work / "state.yaml"
    as_yaml.write_text(yaml.dump(state, Dumper=yaml.CSafeDumper, sort_keys=False))
    loads: dict[str, list[float]] = {"yaml": [], "json": []}
    load_rss: dict[str, float] = {"yaml": 0.0, "json": 0.0}
    for round_ in range(args.rounds):
        for fmt in ("yaml", "json") if round_ % 2 == 0 else ("json", "yaml"):
            run = timed(publisher("validate", str(as_yaml if fmt == "yaml" else full)))
            loads[fmt].append(run["wall_s"])
            load_rss[fmt] = max(load_rss[fmt], run["rss_mib"])
    results["load"] = {
        **{f"{fmt}_s": sum(w) / len(w) for fmt, w in loads.items()},
        **{f"{fmt}_rss_mib": rss for fmt, rss in load_rss.items()},
        "yaml_bytes": as_yaml.stat().st_size,
        "json_bytes": full.stat().st_size,
    }
    del state

    moto, endpoint = start_moto()
    try:
        tree = work / "tree"
        timed(publisher("publish", str(cold), "--target", str(tree)))
        documents = len(list((tree / "config").iterdir()))
        conc = str(args.concurrency)
        config = work / "aws-config"
        config.write_text(f"[default]\ns3 =\n  max_concurrent_requests = {conc}\n")

        def cold_raw(bucket: str) -> dict[str, Any]:
            return timed(
                [
                    sys.executable,
                    str(ROOT / "bench" / "raw_put.py"),
                    str(tree / "config"),
                    bucket,
                    endpoint,
                    "--concurrency",
                    conc,
                ]
            )

        def cold_publisher(bucket: str) -> dict[str, Any]:
            return timed(publish_to(cold, bucket, endpoint, conc))

        def cold_sync(bucket: str) -> dict[str, Any]:
            return timed(
                [
                    str(AWS),
                    "s3",
                    "sync",
                    str(tree / "config"),
                    f"s3://{bucket}/config",
                    "--endpoint-url",
                    endpoint,
                    "--only-show-errors",
                    "--no-progress",
                ],
                extra_env={"AWS_CONFIG_FILE": str(config)},
            )

        runners = {"raw": cold_raw, "publisher": cold_publisher}
        if not args.skip_sync:
            runners["sync"] = cold_sync
        # Alternate the order over rounds so that no tool gains by going first.
        walls: dict[str, list[float]] = {name: [] for name in runners}
        cold_rss = 0.0
        for round_ in range(0 if args.skip_cold else args.rounds):
            order = list(runners) if round_ % 2 == 0 else list(reversed(runners))
            for name in order:
                # A moto server slows as it fills: each cold run starts from an empty server.
                reset_moto(endpoint)
                bucket = f"bench-{name}-{round_}"
                make_bucket(endpoint, bucket)
                print(f"cold round {round_ + 1}: {name}, {documents:,} documents", flush=True)
                measured_run = runners[name](bucket)
                walls[name].append(measured_run["wall_s"])
                if name == "publisher":
                    cold_rss = max(cold_rss, measured_run["rss_mib"])
                    puts = json.loads(measured_run["stdout"])["counts"]["added"]
                    assert puts == documents, (puts, documents)
        if not args.skip_cold:
            results["cold"] = {
                "documents": documents,
                "rounds": args.rounds,
                "publisher_rss_mib": cold_rss,
                **{f"{name}_s": sum(w) / len(w) for name, w in walls.items()},
                "walls": walls,
            }
        pub = {"rss_mib": cold_rss}
        if args.cold_only:
            cold_r = results["cold"]
            print(json.dumps({k: v for k, v in cold_r.items() if k != "walls"}), cold_r["walls"])
            return

        # The no-op and incremental runs use every key: fill one bucket with all of them.
        reset_moto(endpoint)
        make_bucket(endpoint, "bench-full")
        state_file = full if keys > COLD_LIMIT else cold
        print(
            f"filling a bucket with all {keys:,} keys for the no-op and incremental runs",
            flush=True,
        )
        fill = timed(publish_to(state_file, "bench-full", endpoint, conc))
        full_bucket, full_rss = "bench-full", max(pub["rss_mib"], fill["rss_mib"])

        proxy = Proxy(endpoint)
        try:
            print("no-op republish vs a bare paged listing", flush=True)
            listing = timed(
                [sys.executable, str(ROOT / "bench" / "raw_list.py"), full_bucket, proxy.url]
            )
            proxy.reset()
            noop = timed(publish_to(state_file, full_bucket, proxy.url, conc))
            noop_requests = proxy.reset()
            # The same documents from other bytes (saved again): the state is parsed,
            # rendered and compared with the manifest; nothing is written.
            resaved = work / "state-resaved.json"
            resaved.write_bytes(state_file.read_bytes() + b"\n")
            parsed_noop = timed(publish_to(resaved, full_bucket, proxy.url, conc))
            parsed_puts = count(proxy.reset(), "PUT")
            results["noop"] = {
                "parsed_s": parsed_noop["wall_s"],
                "parsed_puts": parsed_puts,
                "listing_s": listing["wall_s"],
                "listed": int(listing["stdout"]),
                "publisher_s": noop["wall_s"],
                "puts": count(noop_requests, "PUT"),
                "requests": len(noop_requests),
                "publisher_rss_mib": noop["rss_mib"],
            }

            print("incremental: one experiment of one organization", flush=True)
            changed, org_id, exp_key, seeing = change_one_org(json.loads(state_file.read_text()))
            expected = len(seeing)
            inc_file = work / "state-inc.json"
            inc_file.write_text(json.dumps(changed, separators=(",", ":")))
            inc = timed(publish_to(inc_file, full_bucket, proxy.url, conc))
            inc_requests = proxy.reset()
            results["incremental"] = {
                "organization": org_id,
                "expected_puts": expected,
                "document_puts": count(inc_requests, "PUT", "/config/"),
                "publisher_s": inc["wall_s"],
                "publisher_rss_mib": inc["rss_mib"],
            }
        finally:
            proxy.close()

        if not args.skip_full_scan:
            results["full_scan"] = daily.full_scan(
                timed, changed, full_bucket, endpoint, work, args.latency_ms, args.rounds
            )
        results["edge"] = (
            None
            if args.skip_sync
            else daily.change_to_edge(
                timed,
                publisher,
                [str(AWS)],
                {"AWS_CONFIG_FILE": str(config)},
                changed,
                (org_id, exp_key, seeing),
                full_bucket,
                endpoint,
                work,
            )
        )
        results["peak_rss_mib"] = max(pub["rss_mib"], full_rss, noop["rss_mib"], inc["rss_mib"])
        results["peak_rss_at_keys"] = keys
    finally:
        moto.terminate()
        moto.wait(timeout=30)

    # Cold uploads against a null S3 (nginx answering at once, storing nothing): the
    # client's own cost beside s5cmd and rclone, at 10,000 documents (and 100,000 at
    # the large size, the publisher, s5cmd and rclone only), with no latency and with
    # 30 ms per request; each tool swept over the uploads in flight and compared at its
    # best. First what each tool sends.
    docs = [10_000, 100_000] if args.size == "large" else [min(keys, 10_000)]
    tiny = args.size == "tiny"
    in_flight = args.null_s3_in_flight or ([32] if tiny else list(nulls3.IN_FLIGHT))
    if not args.skip_null_s3:
        print("null S3: the headers each tool sends", flush=True)
        results["null_s3_headers"] = headers.capture(work / "headers")
        results["null_s3"] = [
            row
            for n in docs
            for row in nulls3.measure(
                [n],
                [0.0, 0.03],
                install=not tiny,
                work=work / "nulls3",
                # 100,000 documents: the Python tools would take an hour over the sweep
                only=list(peers.MAIN) if n > 10_000 else None,
                rounds=1 if tiny else 3,
                in_flight=tuple(in_flight),
            )
        ]
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    if not args.skip_null_s3:
        print(headers.table(results["null_s3_headers"]))
        print(nulls3.table(results["null_s3"]))


def table(r: dict[str, Any]) -> str:
    render, noop, inc = r["render"], r["noop"], r["incremental"]
    # The daily path plans from the manifest: at 100,000 keys it must cost a tenth of a
    # listing, at 10,000 two fifths (start-up weighs more there).
    daily = 0.1 if r["keys"] >= 100_000 else 0.4
    big = r["keys"] >= 10_000  # the daily targets are set at 10,000 and 100,000 keys
    rows = [
        (
            "render+validate",
            f"{render['render_validate_s']:.2f} s",
            f"json.dumps per key {render['floor_per_key_s']:.2f} s",
            f"{render['render_validate_s'] / render['floor_per_key_s']:.2f}x time",
            "<= 3x",
        ),
        (
            "",
            "",
            f"json.dumps per distinct doc {render['floor_distinct_s']:.2f} s",
            f"{render['render_validate_s'] / render['floor_distinct_s']:.2f}x time",
            "",
        ),
        (
            "state load",
            f"YAML {r['load']['yaml_s']:.2f} s, {r['load']['yaml_rss_mib']:.0f} MiB",
            f"JSON {r['load']['json_s']:.2f} s, {r['load']['json_rss_mib']:.0f} MiB",
            f"{r['load']['yaml_s'] / r['load']['json_s']:.2f}x time",
            "<= 3x",
        ),
    ]
    cold = r.get("cold") or {}  # none with --skip-cold
    if cold:
        rows.append(
            (
                "cold publish",
                f"{cold['documents'] / cold['publisher_s']:.0f} docs/s",
                f"raw put loop {cold['documents'] / cold['raw_s']:.0f} docs/s",
                f"{cold['raw_s'] / cold['publisher_s']:.2f}x throughput",
                ">= 0.9x",
            )
        )
    if "sync_s" in cold:
        rows.append(
            (
                "",
                "",
                f"aws s3 sync {cold['documents'] / cold['sync_s']:.0f} docs/s",
                f"{cold['sync_s'] / cold['publisher_s']:.2f}x throughput",
                "> 1x",
            )
        )
    rows += [
        (
            "no-op republish",
            f"{noop['publisher_s']:.2f} s, {noop['puts']} PUTs",
            f"bare listing {noop['listing_s']:.2f} s ({noop['listed']:,} objects)",
            f"{noop['publisher_s'] / noop['listing_s']:.2f}x time",
            f"<= {daily}x, 0 PUTs" if big else "0 PUTs",
        ),
        (
            "",
            f"{noop['parsed_s']:.2f} s, {noop['parsed_puts']} PUTs",
            "(state saved again: parsed, rendered, compared)",
            f"{noop['parsed_s'] / noop['listing_s']:.2f}x time",
            "",
        ),
        (
            "one-org change",
            f"{inc['publisher_s']:.2f} s",
            f"bare listing {noop['listing_s']:.2f} s",
            f"{inc['publisher_s'] / noop['listing_s']:.2f}x time",
            f"<= {daily}x" if big else "",
        ),
        (
            "",
            f"{inc['document_puts']} document PUTs",
            f"keys of {inc['organization']}: {inc['expected_puts']}",
            "equal" if inc["document_puts"] == inc["expected_puts"] else "DIFFERENT",
            "equal",
        ),
    ]
    scan = r.get("full_scan") or {"stores": {}}
    for store, f in scan["stores"].items():
        slow = "30 ms" in store or store.endswith(f"{r.get('latency_ms', 30):g} ms")
        rows.append(
            (
                f"full scan, {store}",
                f"{scan['ranges']} ranges {f['ranges']:.2f} s",
                f"sequential {f['sequential']:.2f} s",
                f"{f['ranges'] / f['sequential']:.2f}x time",
                "<= 0.3x"
                if slow and "O(page)" in store and scan["ranges"] > 1
                else "<= 1x"
                if store == "moto"
                else "",
            )
        )
        rows.append(
            (
                "",
                "",
                f"bare boto3 listing {f['bare']:.2f} s",
                f"{f['ranges'] / f['bare']:.2f}x time",
                "",
            )
        )
        if f.get("together") is not None:
            told = {True: "together: side by side", False: "one at a time: one chain"}
            rows.append(("", f"answered {told[f['together']]}", "(the next full scans)", "", ""))
    if r.get("edge"):
        e = r["edge"]
        rows.append(
            (
                "change to edge",
                f"{e['publisher_s']:.2f} s ({e['documents']} docs)",
                f"aws s3 sync + PURGE {e['sync_s']:.2f} s",
                f"{e['publisher_s'] / e['sync_s']:.2f}x time",
                "<= 0.1x" if r["keys"] >= 100_000 else "",
            )
        )
    rows += [
        (
            "peak RSS",
            f"{r['peak_rss_mib']:.0f} MiB",
            f"at {r['peak_rss_at_keys']:,} keys",
            "",
            "<= 400 MiB",
        ),
    ]
    widths = [max(len(str(row[i])) for row in rows) for i in range(5)]
    head = ("measure", "publisher", "beside", "ratio", "target")
    widths = [max(w, len(h)) for w, h in zip(widths, head, strict=True)]
    lines = [
        f"size {r['size']}: {r['keys']:,} keys, {r['organizations']:,} organizations; "
        f"cold runs on {r['cold_keys']:,} keys; "
        f"concurrency {r['concurrency']}; {r['cpus']} CPUs"
    ]
    for row in (head, *rows):
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


if __name__ == "__main__":
    main()
