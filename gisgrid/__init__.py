"""gisgrid: GIS service for labour-security inspection grid management."""

__version__ = "0.1.0"
