"""Stage 2, training: one run from a settings file to its metrics, summary and checkpoint.

``models`` (the model registry), ``recipe`` (optimizers, schedules and losses, one registry
each), ``train`` (``train_one_epoch``, ``evaluate``, ``train_run``), ``checkpoint`` (one dict,
and whether it may be resumed), ``gpu_lease`` (one GPU per run). Imports the shared modules and
the data stage; nothing imports it but the command line (tests/shared/test_boundaries.py).
"""
