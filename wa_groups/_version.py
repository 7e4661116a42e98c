"""The installed version of wa_groups."""

__version__ = "0.1.0"
