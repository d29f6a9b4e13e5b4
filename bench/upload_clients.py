"""How the document PUTs are sent, measured against the null S3 (bench/nulls3.py).

    python bench/upload_clients.py [--latency 0.03] [--puts 10000] [--threads 240 480 720 960]
                                   [--in-flight 240 480 960]

Each way sends the same `--puts` PUTs of a 1,300-byte body with obstore, the client the
publisher's uploads use: its blocking `put` on N threads (what publisher/sync/apply.py
does), and `put_async` with N in flight on one asyncio loop. Prints PUTs a second, CPU
milliseconds per PUT (this process's user + system time) and the peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.nulls3 import BUCKET, CREDENTIALS, WORK, NullS3

BODY = b"x" * 1300
ATTRIBUTES = {"Content-Type": "application/json", "Cache-Control": "max-age=60"}


def blocking(store: Any, puts: int, threads: int) -> None:
    import obstore

    names = iter(range(puts))
    taking = threading.Lock()

    def work() -> None:
        while True:
            with taking:
                n = next(names, None)
            if n is None:
                return
            obstore.put(store, f"config/k{n}", BODY, attributes=ATTRIBUTES, use_multipart=False)

    running = [threading.Thread(target=work) for _ in range(threads)]
    for each in running:
        each.start()
    for each in running:
        each.join()


def with_asyncio(store: Any, puts: int, in_flight: int) -> None:
    import obstore

    async def main() -> None:
        names = iter(range(puts))

        async def worker() -> None:
            for n in names:
                await obstore.put_async(
                    store, f"config/k{n}", BODY, attributes=ATTRIBUTES, use_multipart=False
                )

        await asyncio.gather(*(worker() for _ in range(in_flight)))

    asyncio.run(main())


def measure(way: str, n: int, latency: float, puts: int) -> str:
    from obstore.store import S3Store

    server = NullS3(latency, WORK / "upload_clients")
    store = S3Store(
        BUCKET,
        endpoint=server.url,
        region="us-east-1",
        client_options={"allow_http": True},
        access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
    try:
        began, cpu = time.perf_counter(), time.process_time()
        (blocking if way == "threads" else with_asyncio)(store, puts, n)
        wall, cpu = time.perf_counter() - began, time.process_time() - cpu
    finally:
        del store  # its connections close, so nginx can stop
        server.close()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return (f"{way:<8} {n:>5} {latency * 1000:>4.0f} ms  {puts / wall:>8,.0f} PUT/s  "
            f"{1000 * cpu / puts:.3f} CPU ms/PUT  peak RSS so far {rss:.0f} MiB")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--latency", type=float, default=0.03)
    parser.add_argument("--puts", type=int, default=10_000)
    parser.add_argument("--threads", type=int, nargs="*", default=[240, 480, 720, 960])
    parser.add_argument("--in-flight", type=int, nargs="*", default=[240, 480, 960])
    args = parser.parse_args()
    print("way      N     latency  PUT/s        CPU per PUT")
    for n in args.threads:
        print(measure("threads", n, args.latency, args.puts), flush=True)
    for n in args.in_flight:
        print(measure("asyncio", n, args.latency, args.puts), flush=True)


if __name__ == "__main__":
    main()
