"""Relational storage of the hub (SQLAlchemy 2, Alembic migrations; SQLite or PostgreSQL)."""
