"""Offline analysis of job frames: failure groups, summaries, time quality."""
