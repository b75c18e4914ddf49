"""`make bench`: the scanner against a local nginx, timed beside a minimal asyncio floor client.

Loopback only. See bench/README.md for what is measured and how.
"""
