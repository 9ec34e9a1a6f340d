"""Ingest: validation, quarantine and standardisation of source extracts."""
