"""What people see: plots, tables, the notebook monitor and the progress bar. The core never
imports this package (it reports progress as events, which `bar` and the monitor draw)."""
