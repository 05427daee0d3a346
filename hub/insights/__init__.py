"""Manager insights: which rooms are only rented desks, who takes part, which nudges work.

Layers, each in its own module:

* :mod:`~hub.insights.settings` — the definitions, configurable (posture thresholds, value index
  weights, the privacy threshold);
* :mod:`~hub.insights.rollups` — daily per-member and per-room-hour aggregates, updated
  incrementally so that a report never reads a year of raw sessions;
* :mod:`~hub.insights.posture`, :mod:`~hub.insights.value` — what a member's period says
  (absent, tenant, occasional, coworker, with its explanation; community value captured);
* :mod:`~hub.insights.stats` — proportions and uplift intervals;
* :mod:`~hub.insights.privacy` — small cells are suppressed with a typed marker;
* :mod:`~hub.insights.reports` — the reports as typed rows (pages, CSV and the digest render
  them);
* :mod:`~hub.insights.cache` — computed pages kept until new rollups touch their days;
* :mod:`~hub.insights.retention` — member-day rollups expire with the identified data, their
  posture weeks kept as site-level counts;
* :mod:`~hub.insights.digest` — the weekly e-mail to managers, retried until accepted;
* :mod:`~hub.insights.synthetic` — a seeded population with a hidden truth, for the demo, the
  validation tests and the benchmark.

The definitions are documented for managers in ``docs/insights.md``.
"""
