"""The Wisp Cloud reference gateway agent."""

__version__ = "0.1.0"
