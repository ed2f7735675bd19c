"""What people see: plots and the notebook monitor. The core never imports this package."""
