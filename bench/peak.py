"""Run `python -m publisher ...` and write its own peak RSS (VmHWM, KiB) to $PEAK_FILE.

A forked child's ru_maxrss starts from its parent's RSS, so the benchmark driver's
memory would count; VmHWM of the process's own address space does not.
"""

from __future__ import annotations

import atexit
import os
import runpy
import sys


def _report() -> None:
    with open("/proc/self/status", encoding="ascii") as status:
        line = next(row for row in status if row.startswith("VmHWM:"))
    with open(os.environ["PEAK_FILE"], "w", encoding="ascii") as out:
        out.write(line.split()[1])


atexit.register(_report)
sys.argv = ["publisher", *sys.argv[1:]]
runpy.run_module("publisher", run_name="__main__", alter_sys=True)
