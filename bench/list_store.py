"""A store that answers ListObjectsV2 as S3 does: each page costs O(page), not O(bucket).

    python bench/list_store.py KEYS_FILE PORT [--latency-ms 30]

Serves one bucket, `bench`, whose objects are `config/<name>` for every line of
KEYS_FILE, from a sorted list with bisect: a page of 1,000 costs the same at 10,000 or
100,000 objects, as on S3 (moto filters its whole bucket on every request, so on moto
a listing of N objects costs O(N^2) and no client can split it faster). Every request
waits `--latency-ms` first: a fixed round trip like S3's ~30 ms for a LIST. Anything
but a listing gets 501. The benchmark runs it in its own process, on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import bisect
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

BUCKET = "bench"
HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'


def entry(name: str) -> str:
    return (
        f"<Contents><Key>{escape(name)}</Key>"
        "<LastModified>2026-11-27T00:00:00.000Z</LastModified>"
        '<ETag>"0123456789abcdef0123456789abcdef"</ETag><Size>300</Size>'
        "<StorageClass>STANDARD</StorageClass></Contents>"
    )


def page(names: list[str], entries: list[str], query: dict[str, list[str]]) -> bytes:
    """One ListObjectsV2 page: Prefix, StartAfter, ContinuationToken and MaxKeys honoured."""
    prefix = query.get("prefix", [""])[0]
    after = query.get("continuation-token", query.get("start-after", [""]))[0]
    most = min(int(query.get("max-keys", ["1000"])[0]), 1000)
    start = bisect.bisect_right(names, after) if after else bisect.bisect_left(names, prefix)
    end = start
    for name in names[start : start + most + 1]:
        if not name.startswith(prefix):
            break
        end += 1
    truncated = end - start > most
    end = min(end, start + most)
    chosen = names[start:end]
    parts = [HEAD, f"<Name>{BUCKET}</Name><Prefix>{escape(prefix)}</Prefix>"]
    parts.append(f"<KeyCount>{len(chosen)}</KeyCount><MaxKeys>{most}</MaxKeys>")
    parts.append(f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>")
    if truncated:
        parts.append(f"<NextContinuationToken>{escape(chosen[-1])}</NextContinuationToken>")
    parts.extend(entries[start:end])  # made once: the store's CPU is not the client's
    parts.append("</ListBucketResult>")
    return "".join(parts).encode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("keys_file")
    parser.add_argument("port", type=int)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args()
    with open(args.keys_file, encoding="utf-8") as fh:
        names = sorted("config/" + line.strip() for line in fh if line.strip())
    entries = [entry(name) for name in names]
    delay = args.latency_ms / 1000

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            time.sleep(delay)
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            if url.path.strip("/") != BUCKET or query.get("list-type") != ["2"]:
                self.send_error(501)
                return
            body = page(names, entries, query)
            self.send_response(200)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
