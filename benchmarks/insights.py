"""Insights benchmark: a full insights report over one year, on SQLite and PostgreSQL.

Builds the synthetic population (:mod:`hub.insights.synthetic`): 3 sites and 300 members, and
30 sites and 3,000 members, each in a database of its own; writes them and rolls them up once
(:func:`hub.insights.rollups.refresh`). Then times the full report of every site over the year
(:func:`hub.insights.reports.full.insights`) uncached (a first view: nothing cached),
``--repeat`` times per world, alternating between the two worlds: the ratio compares reports
made under the same load of the machine (measured one world after the other, the two sides were
a quarter of an hour apart on a slow machine, the time it takes to build the large one). Then a
cached view the way the page does it (:mod:`hub.insights.cache`: the watermark query, then the
cache), and a second refresh with nothing new. Prints the ratio between the two sizes (best of
each, and medians). Goal (issue 7): the uncached report under 1 s for the small world, at most
10 × longer at 10 × the data. Prints figures; asserts nothing. The report's CPU time in this
process is printed beside the wall time, and on PostgreSQL the CPU time of the server process
that ran its queries (read from ``/proc`` when the server runs on this machine): on a shared
machine the wall time also measures the other processes, while the CPU times measure the
report's own work, whose ratio is printed too. Neither is steady on a shared virtual machine
(the hypervisor's steal counts as CPU time): ``--instructions`` also counts the instructions one
report executes in this process, under Valgrind (:mod:`benchmarks.instructions`), the same
from one run to the next, and prints their ratio.

    .venv/bin/python -m benchmarks.insights [--postgres URL] [--skip-large] [--repeat 3]
        [--instructions]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import secrets
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from benchmarks import instructions
from hub.db.engine import make_engine, make_sessionmaker
from hub.db.migrate import upgrade
from hub.insights.cache import LruCache, watermark
from hub.insights.reports.full import SiteInsights, insights
from hub.insights.rollups import refresh
from hub.insights.synthetic import SyntheticSpec, expected_sizes, simulate, write

START = date(2025, 11, 24)
END = date(2026, 11, 23)
NOW = datetime(2026, 12, 1, tzinfo=UTC)


@dataclass
class World:
    """One synthetic world written and rolled up in its own database, ready to be reported."""

    sites: int
    url: str
    engine: Engine
    sessions: sessionmaker[Session]
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    servers: list[float] = field(default_factory=list)  # PostgreSQL's process, when readable

    @property
    def server_known(self) -> bool:
        """Whether every report's server CPU time was read (PostgreSQL on this machine)."""
        return bool(self.servers) and len(self.servers) == len(self.cpus)


def build(url: str, sites: int) -> World:
    """Simulate, write and roll up a world of *sites* sites; prints its size and build times."""
    engine = make_engine(url)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    began = time.perf_counter()
    world = simulate(SyntheticSpec(seed=1, sites=sites, members_per_site=100))
    simulated = time.perf_counter()
    with sessions.begin() as session:
        write(session, world)
    written = time.perf_counter()
    with sessions.begin() as session:
        refresh(session, NOW)
    sizes = expected_sizes(world)
    # The world (millions of dicts) would make every garbage collection during the report walk
    # it: drop it. PostgreSQL's autovacuum would have vacuumed and analysed the bulk-loaded
    # tables by the time anyone opens a page (statistics for the planner, the visibility map for
    # index-only scans); do it now rather than time a state no running hub is in.
    del world
    gc.collect()
    if url.startswith("postgresql"):
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
    rolled = time.perf_counter()
    print(
        f"  {sites} sites, {sizes['members']} members, {sizes['presence_sessions']} sessions, "
        f"{sizes['room_dwells']} dwells, {sizes['moments']} moments, "
        f"{sizes['nudge_records']} nudges"
    )
    print(
        f"  simulate {simulated - began:.1f} s   write {written - simulated:.1f} s   "
        f"first rollup {rolled - written:.1f} s",
        flush=True,
    )
    return World(sites, url, engine, sessions)


def server_process(session: Session) -> Path | None:
    """``/proc`` entry of the PostgreSQL process serving *session*, when it runs on this machine
    (None on SQLite, or for a server elsewhere)."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
    entry = Path(f"/proc/{pid}")
    try:
        return entry if (entry / "comm").read_text().strip() == "postgres" else None
    except OSError:
        return None


def cpu_seconds(entry: Path) -> float:
    """CPU time of the process at *entry* (``/proc/<pid>``): the scheduler's count in
    nanoseconds, else user and system time in clock ticks (10 ms, coarse for a short report)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int((entry / "schedstat").read_text().split()[0]) / 1e9
    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def report(world: World) -> list[SiteInsights]:
    """One uncached report of every site over the year, timed (wall, this process's CPU and its
    PostgreSQL server process's CPU)."""
    with world.sessions() as session:
        server = server_process(session)
        began_server = cpu_seconds(server) if server else 0.0
        began_cpu, began_wall = time.process_time(), time.perf_counter()
        reports = insights(session, START, END)
        world.walls.append(time.perf_counter() - began_wall)
        world.cpus.append(time.process_time() - began_cpu)
        if server:
            world.servers.append(cpu_seconds(server) - began_server)
    return reports


def work(world: World) -> list[float]:
    """CPU seconds of each report: this process's, and its server process's when known."""
    if not world.server_known:
        return world.cpus
    return [c + s for c, s in zip(world.cpus, world.servers, strict=True)]


def timed(world: World, i: int) -> str:
    """The figures of the *i*-th report of *world*: wall time, CPU (and the server's CPU)."""
    server = f" + server {world.servers[i]:.2f}" if world.server_known else ""
    return f"{world.walls[i]:.2f} s (CPU {world.cpus[i]:.2f}{server})"


def views(world: World, site_ids: list[str]) -> None:
    """A page viewed twice the way the web page does it, then a refresh with nothing new."""
    cache: LruCache[list[SiteInsights]] = LruCache()

    def view() -> list[SiteInsights]:
        with world.sessions() as session:
            key = (tuple(site_ids), START, END, watermark(session, site_ids, START, END, 28))
            return cache.get_or_compute(key, lambda: insights(session, START, END))

    first = time.perf_counter()
    view()
    cached = time.perf_counter()
    view()
    viewed = time.perf_counter()
    with world.sessions.begin() as session:
        again = refresh(session, NOW)
    refreshed = time.perf_counter()
    print(
        f"  {world.sites} sites: uncached report (a year): "
        + ", ".join(timed(world, i) for i in range(len(world.walls)))
        + f"   best {min(world.walls):.2f} s"
    )
    print(
        f"  {world.sites} sites: page view: first {cached - first:.2f} s, cached "
        f"{(viewed - cached) * 1000:.1f} ms   refresh with nothing new "
        f"{refreshed - viewed:.3f} s ({again.days} days)"
    )


def measure(worlds: list[World], repeat: int) -> None:
    """Report every world *repeat* times, alternating between them (so that the machine's load,
    which changes from one minute to the next, weighs on all of them alike), then view pages."""
    site_ids: dict[int, list[str]] = {}
    for _ in range(repeat):
        for world in worlds:
            site_ids[world.sites] = [r.period.site_id for r in report(world)]
    for world in worlds:
        views(world, site_ids[world.sites])


def repeat_reports(url: str, times: int) -> None:
    """Report every site of the world at *url* *times* times (what the instruction counts run)."""
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    with sessions() as session:
        session.execute(text("SELECT 1"))  # connect before the work
    for _ in range(times):
        with sessions() as session:
            insights(session, START, END)
    engine.dispose()


def count_instructions(world: World) -> int:
    """Instructions of one (warm) report of *world*, counted under cachegrind."""
    began = time.perf_counter()
    count = instructions.per_repetition(
        lambda n: [sys.executable, "-m", "benchmarks.insights", "--reports", world.url, str(n)]
    )
    print(
        f"  {world.sites} sites: instructions of one report: {count / 1e9:.2f} G "
        f"(this process; counted in {time.perf_counter() - began:.0f} s)",
        flush=True,
    )
    return count


def postgres_database(admin_url: str) -> tuple[str, str]:
    """Create a database of our own; returns its URL and name."""
    name = f"vivant_bench_{secrets.token_hex(4)}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"{admin_url.rsplit('/', 1)[0]}/{name}", name


def drop(admin_url: str, name: str) -> None:
    """Drop the benchmark's database."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--skip-large", action="store_true", help="only 3 sites")
    parser.add_argument("--only", choices=("sqlite", "postgresql"), help="one database only")
    parser.add_argument("--repeat", type=int, default=3, help="uncached reports per world")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="also count each world's instructions under valgrind (minutes per world)",
    )
    parser.add_argument("--reports", nargs=2, metavar=("URL", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.reports:
        repeat_reports(args.reports[0], int(args.reports[1]))
        return
    if args.instructions and not instructions.available():
        parser.error("--instructions needs valgrind (apt-get install valgrind)")
    sizes = [3] if args.skip_large else [3, 30]
    for backend in (args.only,) if args.only else ("sqlite", "postgresql"):
        print(f"{backend}:")
        worlds: list[World] = []
        with contextlib.ExitStack() as stack:
            for sites in sizes:
                if backend == "sqlite":
                    tmp = stack.enter_context(tempfile.TemporaryDirectory())
                    url = f"sqlite:///{Path(tmp) / 'bench.db'}"
                else:
                    url, name = postgres_database(args.postgres)
                    stack.callback(drop, args.postgres, name)
                worlds.append(build(url, sites))
                stack.callback(worlds[-1].engine.dispose)
            measure(worlds, args.repeat)
            counts = [count_instructions(w) for w in worlds] if args.instructions else []
        if len(worlds) == 2:
            small, large = worlds
            best = min(large.walls) / min(small.walls)
            middle = statistics.median(large.walls) / statistics.median(small.walls)
            cpu = statistics.median(work(large)) / statistics.median(work(small))
            counted = "the report's and its server's" if large.server_known else "the report's"
            print(
                f"{backend}: uncached report 30 sites / 3 sites = {best:.1f} (best of each; "
                f"medians: {middle:.1f}; goal ≤ 10); CPU time ({counted}): {cpu:.2f} (medians)"
            )
        if len(counts) == 2:
            print(f"{backend}: instructions 30 sites / 3 sites = {counts[1] / counts[0]:.3f}")


if __name__ == "__main__":
    main()
