"""bold-spark: probabilistic record linkage (Fellegi-Sunter, Splink) on Apache Spark with Delta outputs."""

__version__ = "0.1.0"
