"""Instructions a piece of work executes, counted by Valgrind's cachegrind.

Wall time and even CPU time move with the machine's other load: on a shared virtual machine the
same report took 4.9 to 6.6 s of its own CPU time from one run to the next (the hypervisor's
steal is counted as the process's time). The number of instructions executed does not: it is the
same from one run to the next within a fraction of a percent, so the ratio of two of them says
how the *work* grows, which is what a scaling goal is about. SQLite's developers measure its CPU
usage the same way ("Measuring and Reducing CPU Usage in SQLite": cachegrind over a standard
workload).

A command is run twice under ``valgrind --tool=cachegrind --cache-sim=no``: once doing the work
*once* and once doing it *twice* (both after the same start-up: imports, connection). The
difference is one warm repetition of the work, without the start-up and without what the first
repetition alone pays (compiling and caching SQL statements). The two runs go side by side, one
per core; under Valgrind a run takes about 15 times as long as natively (the insights report:
29 s for the 3-site world, 138 s for the 30-site one).

Only the process itself is counted: a database server's work (PostgreSQL runs in processes of its
own) is not.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

_REFS = re.compile(r"I\s+refs:\s+([\d,]+)")


def available() -> bool:
    """Whether Valgrind is installed (``apt-get install valgrind``)."""
    return shutil.which("valgrind") is not None


def parse(log: str) -> int:
    """The instruction count of a cachegrind log (its ``I refs:`` line)."""
    found = _REFS.search(log)
    if found is None:
        raise ValueError("no instruction count in cachegrind's output")
    return int(found.group(1).replace(",", ""))


def _start(command: Sequence[str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            "valgrind",
            "--tool=cachegrind",
            "--cache-sim=no",
            "--cachegrind-out-file=/dev/null",
            f"--log-file={log}",
            *command,
        ],
        stdout=subprocess.DEVNULL,
    )


def per_repetition(command: Callable[[int], Sequence[str]]) -> int:
    """Instructions of one warm repetition of the work ``command(n)`` does *n* times."""
    commands = {n: list(command(n)) for n in (1, 2)}
    with tempfile.TemporaryDirectory() as tmp:
        logs = {n: Path(tmp) / f"run{n}.log" for n in commands}
        runs = {n: _start(commands[n], logs[n]) for n in commands}
        for n, run in runs.items():
            if run.wait() != 0:
                what = " ".join(commands[n])
                raise RuntimeError(f"{what} failed under valgrind (exit {run.returncode})")
        counts = {n: parse(logs[n].read_text()) for n in commands}
    return counts[2] - counts[1]
