"""`python -m adaptive_delivery.cli` runs the command (as the console script does)."""

from adaptive_delivery.cli import app

app()
