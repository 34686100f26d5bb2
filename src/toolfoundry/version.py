"""The release of toolfoundry (the package's version, and the DBOS application version of its workflows)."""

__version__ = "0.2.0"
