"""Stage 2, training: one run from a settings file to its metrics, summary and checkpoint.

``models`` (the model registry), ``recipe`` (optimizers, schedules and losses, one registry
each), ``device`` (where a run runs), ``run_data`` (what it trains and validates on), ``loop``
(``train_step``, ``train_one_epoch``, ``evaluate``, the run's state), ``train`` (``train_run``:
the run, its checkpoints and outputs), ``checkpoint`` (one dict, and whether it may be
resumed), ``gpu_lease`` (one GPU per run). Imports shared, config and the data stage; nothing
imports it but the command line (tests/shared/test_boundaries.py).
"""
