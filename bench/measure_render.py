"""Time render+validate against the serialization floor, in one process.

    python bench/measure_render.py STATE.json

Prints JSON: the publisher's time from loaded state to validated bytes, and the time
`json.dumps` takes for the same documents (one per key, and each distinct one once).
"""

from __future__ import annotations

import json
import sys
import time

from publisher.documents.render import render_documents
from publisher.documents.validate import validate_documents
from publisher.state import load_state


def main() -> None:
    state = load_state(sys.argv[1])
    start = time.perf_counter()
    rendered = render_documents(state)
    validate_documents(rendered)
    render_validate = time.perf_counter() - start

    # The floor: serialize the very same documents from Python objects, nothing else.
    objects = {id(doc): json.loads(doc.body) for doc in rendered.distinct()}
    per_key = [objects[id(doc)] for doc in rendered.documents.values()]
    start = time.perf_counter()
    for value in per_key:
        json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    floor_per_key = time.perf_counter() - start
    start = time.perf_counter()
    for value in objects.values():
        json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    floor_distinct = time.perf_counter() - start
    print(
        json.dumps(
            {
                "documents": len(rendered.documents),
                "distinct": len(objects),
                "render_validate_s": render_validate,
                "floor_per_key_s": floor_per_key,
                "floor_distinct_s": floor_distinct,
            }
        )
    )


if __name__ == "__main__":
    main()
