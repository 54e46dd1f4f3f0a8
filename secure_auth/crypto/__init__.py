"""Cryptographic helpers: random values, digests, comparisons, certificate credentials."""
