"""monitor: scheduled news monitoring against watchlists of entities and topics."""

__version__ = "0.1.0"
