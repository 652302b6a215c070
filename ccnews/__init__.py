"""ccnews: a crawler and searchable archive of regional news about creative-city activity."""

__version__ = "0.1.0"
