"""Keyed pseudonymisation and privacy-preserving encodings."""
