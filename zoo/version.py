"""The version of zoo, defined once: ``pyproject.toml`` reads it from here (setuptools ``attr:``)."""

__version__ = "0.1.0"
