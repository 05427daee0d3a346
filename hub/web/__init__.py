"""The hub's web application: lobby screens, metrics, health (staff pages come later)."""
