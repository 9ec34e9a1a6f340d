"""bold-spark: probabilistic record linkage (Fellegi-Sunter, Splink) on Apache Spark with Delta outputs."""

__version__ = "0.1.0"

__all__ = ["create_published_views", "published_set", "read_published", "resolve_person_ids"]


def __getattr__(name: str):
    """The readers' API, imported on first use (``import bold_spark`` stays light)."""
    if name in __all__:
        from bold_spark import publish

        return getattr(publish, name)
    raise AttributeError(f"module 'bold_spark' has no attribute {name!r}")
