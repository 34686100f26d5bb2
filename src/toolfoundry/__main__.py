"""``python -m toolfoundry`` runs the command line."""

from toolfoundry.surfaces.cli import main

main()
