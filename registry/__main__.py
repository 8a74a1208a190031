"""``python -m registry`` runs the command line."""

from registry.cli.program import main

main()
