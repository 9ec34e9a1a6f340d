"""The linkage quality and bias report of a published run (issue 16, docs/report.md).

    from bold_spark.report import run_report
    path = run_report(spark, cfg)            # <output_root>/reports/<run_id>/report.html

``aggregates`` computes small aggregate frames from the published tables, ``charts`` draws
them (PNG), ``render`` writes the self-contained HTML page, ``report`` ties them together.
"""

from bold_spark.report.report import build_report_data, run_report

__all__ = ["build_report_data", "run_report"]
