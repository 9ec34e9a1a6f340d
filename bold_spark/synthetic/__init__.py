"""Synthetic BOLD extracts: one file per source in its own layout, plus the ground truth.

    from bold_spark.synthetic import SyntheticSpec, ErrorRates, run_generate
    counts = run_generate(spark, SyntheticSpec(people=2000, seed=42), "/tmp/bold-synthetic")

Everything is computed inside Spark from ``spark.range`` with hash-based draws, so the output
depends only on the spec (never on partitioning). See docs/synthetic.md.
"""

from __future__ import annotations

from bold_spark.synthetic.generate import (
    GROUND_TRUTH,
    generate_population,
    run_generate,
    true_people,
)
from bold_spark.synthetic.layouts import GROUND_TRUTH_PATH, LAYOUTS, SOURCES, SourceLayout
from bold_spark.synthetic.spec import (
    DIFFICULTIES,
    MAX_PEOPLE,
    ErrorRates,
    Households,
    Pathways,
    SourceGaps,
    SyntheticSpec,
)

__all__ = [
    "DIFFICULTIES",
    "GROUND_TRUTH",
    "GROUND_TRUTH_PATH",
    "LAYOUTS",
    "MAX_PEOPLE",
    "SOURCES",
    "ErrorRates",
    "Households",
    "Pathways",
    "SourceGaps",
    "SourceLayout",
    "SyntheticSpec",
    "generate_population",
    "run_generate",
    "true_people",
]
