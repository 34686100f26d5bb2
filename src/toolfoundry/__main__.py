"""``python -m toolfoundry`` runs the command line."""

from toolfoundry.cli import main

main()
