"""Waiting for jobs: poll rounds, schedules and the SQLite poll log."""
