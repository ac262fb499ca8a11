"""The pipeline's config: read it, check it, resolve each experiment's settings.

- :mod:`.load`: YAML files and the schema (``schema.yaml``, package data);
- :mod:`.checks`: :func:`~.checks.validate`, the schema and what a schema cannot say;
- :mod:`.resolve`: the experiments that train and each one's settings (what a train job reads);
- :mod:`.merge`, :mod:`.ablations`, :mod:`.beyond_paper`: plain, torch-free functions over the
  config mapping that the report uses too (how settings merge, the ablation questions, the runs
  beyond the paper). They import only :mod:`tinycnn.shared` and each other.

Nothing is re-exported here: importing ``tinycnn.config.merge`` (the report does) must not load
the checks, which know the stages' rules (op geometry, the recipe's tables).
"""
