"""labctl: stand up an IPsec VPN HA pair in Docker, break it on purpose, and prove what survived."""

__version__ = "0.1.0"
