"""netvault: a credential and network-data vault for managed IT providers."""

__version__ = "0.1.0"
