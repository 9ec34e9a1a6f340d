"""The stages :mod:`bold_spark.pipeline` runs, one module each, every one handed a session, the
config and the run record: :mod:`~bold_spark.stages.ingest`, :mod:`~bold_spark.stages.train`,
:mod:`~bold_spark.stages.predict`, :mod:`~bold_spark.stages.cluster` (which calls
:mod:`~bold_spark.stages.identify` for the person IDs), :mod:`~bold_spark.stages.audit` and
:mod:`~bold_spark.stages.evaluate`. :mod:`~bold_spark.stages.incremental` holds an incremental
run's steps over the published set, :mod:`~bold_spark.stages.context` what a run's stages share.
Call them through ``bold_spark.pipeline.run_<stage>``, which records, audits and publishes the
run."""
