"""One builder per source: true people -> that source's rows (layout columns plus person_id)."""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import DataFrame

from bold_spark.synthetic.sources.benefits import benefits_rows
from bold_spark.synthetic.sources.homelessness import homelessness_rows
from bold_spark.synthetic.sources.ndtms import ndtms_rows
from bold_spark.synthetic.sources.prison import prison_rows
from bold_spark.synthetic.sources.probation import probation_rows
from bold_spark.synthetic.spec import SyntheticSpec

SourceBuilder = Callable[[DataFrame, SyntheticSpec], DataFrame]

BUILDERS: dict[str, SourceBuilder] = {
    "ndtms": ndtms_rows,
    "prison": prison_rows,
    "probation": probation_rows,
    "benefits": benefits_rows,
    "homelessness": homelessness_rows,
}
