"""Model tuning helpers behind the notebooks in ``notebooks/``: all the logic lives here so that
notebook cells stay a line or two of calls.

* ``workspace``: a notebook's working folder (synthetic population, pipeline config, key).
* ``profile``: completeness, value frequencies and largest blocks, aggregated in Spark.
* ``stepwise``: ``bold train``'s engine (``linkage.training.Trainer``) driven one step at a time
  (prior, u, one EM session at a time), with parameter tables to look at between steps.
* ``thresholds``: pairwise precision/recall by match-weight threshold against ground truth.
* ``review``: clerical-review samples around thresholds, waterfall records, cluster sizes.
* ``charts``: matplotlib figures, Splink's own charts for a model, ``save_chart``.

Every function takes a SparkSession or DataFrame; only small aggregated results are collected
(as pandas DataFrames) to the driver.
"""
