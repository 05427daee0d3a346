"""Insights benchmark: a full insights report over one year, on SQLite and PostgreSQL.

Builds the synthetic population (:mod:`hub.insights.synthetic`): 3 sites and 300 members, then
30 sites and 3,000 members; writes it, rolls it up once (:func:`hub.insights.rollups.refresh`),
then times the full report of every site over the year (:func:`hub.insights.reports.full.insights`)
uncached, ``--repeat`` times (a first view: nothing cached), then a cached view the way the page
does it (:mod:`hub.insights.cache`: the watermark query, then the cache), a second refresh with
nothing new, and prints the ratio between the two sizes. Goal (issue 7): the uncached report
under 1 s for the small world, at most 10 × longer at 10 × the data. Prints figures; asserts
nothing. The report's CPU time in this process is printed beside
the wall time: on a shared machine the wall time mostly measures the other processes (on
PostgreSQL the queries' own work is in the server, so only the wall time counts there).

    .venv/bin/python -m benchmarks.insights [--postgres URL] [--skip-large]
"""

from __future__ import annotations

import argparse
import gc
import secrets
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import create_engine, text

from hub.db.engine import make_engine, make_sessionmaker
from hub.db.migrate import upgrade
from hub.insights.cache import LruCache, watermark
from hub.insights.reports.full import SiteInsights, insights
from hub.insights.rollups import refresh
from hub.insights.synthetic import SyntheticSpec, expected_sizes, simulate, write

START = date(2025, 11, 24)
END = date(2026, 11, 23)
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def run(url: str, sites: int, repeat: int) -> float:
    """Build, roll up and report one world; returns the best uncached report time (seconds)."""
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
    walls, cpus = [], []
    for _ in range(repeat):
        began_cpu, began_wall = time.process_time(), time.perf_counter()
        with sessions() as session:
            reports = insights(session, START, END)
        walls.append(time.perf_counter() - began_wall)
        cpus.append(time.process_time() - began_cpu)
    cache: LruCache[list[SiteInsights]] = LruCache()
    site_ids = [r.period.site_id for r in reports]

    def view() -> list[SiteInsights]:
        with sessions() as session:
            key = (tuple(site_ids), START, END, watermark(session, site_ids, START, END, 28))
            return cache.get_or_compute(key, lambda: insights(session, START, END))

    first = time.perf_counter()
    view()
    cached = time.perf_counter()
    view()
    viewed = time.perf_counter()
    with sessions.begin() as session:
        again = refresh(session, NOW)
    refreshed = time.perf_counter()
    print(
        f"  {sites} sites, {sizes['members']} members, {sizes['presence_sessions']} sessions, "
        f"{sizes['room_dwells']} dwells, {sizes['moments']} moments, "
        f"{sizes['nudge_records']} nudges"
    )
    print(
        f"  simulate {simulated - began:.1f} s   write {written - simulated:.1f} s   "
        f"first rollup {rolled - written:.1f} s"
    )
    print(
        f"  uncached report ({len(reports)} sites, a year): "
        + ", ".join(f"{w:.2f} s (CPU {c:.2f})" for w, c in zip(walls, cpus, strict=True))
        + f"   best {min(walls):.2f} s"
    )
    print(
        f"  page view: first {cached - first:.2f} s, cached {(viewed - cached) * 1000:.1f} ms   "
        f"refresh with nothing new {refreshed - viewed:.3f} s ({again.days} days)"
    )
    engine.dispose()
    return min(walls)


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
    args = parser.parse_args()
    sizes = [3] if args.skip_large else [3, 30]
    for backend in (args.only,) if args.only else ("sqlite", "postgresql"):
        times = []
        for sites in sizes:
            print(f"{backend}:")
            if backend == "sqlite":
                with tempfile.TemporaryDirectory() as tmp:
                    times.append(run(f"sqlite:///{Path(tmp) / 'bench.db'}", sites, args.repeat))
            else:
                url, name = postgres_database(args.postgres)
                try:
                    times.append(run(url, sites, args.repeat))
                finally:
                    drop(args.postgres, name)
        if len(times) == 2:
            print(
                f"{backend}: uncached report 30 sites / 3 sites = {times[1] / times[0]:.1f} "
                "(best of each; goal ≤ 10)"
            )


if __name__ == "__main__":
    main()
