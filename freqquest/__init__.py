"""freqquest: a competition pipeline for short-clip audio classification and generation."""

__version__ = "0.1.0"
