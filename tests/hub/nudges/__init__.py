"""Tests of the nudge decision engine (pure logic)."""
