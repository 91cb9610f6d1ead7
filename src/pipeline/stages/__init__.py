"""Each stage's library entry point, one module per stage: ``run(...) -> Report``.

``pipeline.stages.<stage>.run`` does the stage's work (its main output written atomically) and
returns a :class:`~pipeline.cli.StageReport`; ``Report.write(...)`` writes the stage's
records (metrics, reports, fingerprint parts) and ``Report.summary()`` is the one line the stage
script prints. The scripts under ``stages/`` only parse arguments, load the parameter sections the
stage reads and call these. This is the top layer of the library: nothing below imports it.
"""
