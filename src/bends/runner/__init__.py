"""The experiment platform: studies expand into cells, executors run them, a store keeps them.

* :mod:`~bends.runner.config` — typed settings (defaults < TOML < ``--set``);
* :mod:`~bends.runner.study` — studies, cells, results;
* :mod:`~bends.runner.store` — the SQLite results store (resumable);
* :mod:`~bends.runner.executors` — local, process pool, Ray;
* :mod:`~bends.runner.sweep` — the driver: resume, run, store, progress bar;
* :mod:`~bends.runner.report` — Markdown/HTML reports with PNG/PDF figures;
* :mod:`~bends.runner.export` — CSV and Parquet tables of the stored results.
"""
