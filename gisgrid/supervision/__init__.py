"""Supervision in the grid: working-day clocks (and, built on them, complaints and cases)."""
