"""Reports as data: typed rows that pages, CSV exports and the weekly digest render.

Every report reads the rollups (:mod:`hub.insights.rollups`) and the small tables (moments,
attendance, RSVPs, nudge records), never a year of raw sessions. Every figure about members goes
through :mod:`hub.insights.privacy`: a cell about fewer than ``min_cell_members`` members is a
:class:`~hub.insights.privacy.Suppressed` marker.
"""
