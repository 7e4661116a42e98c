"""The installed version of wa_groups."""

#: The version of the installed wa_groups package.
__version__ = "0.1.0"
