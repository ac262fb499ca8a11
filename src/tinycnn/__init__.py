"""Regenerate "Convolutional Neural Networks on Tiny ImageNet" with Snakemake.

The package is laid out by stage; the stages meet only through files.

- ``data/``: the archive, packed arrays, augmentation sets.
- ``training/``: models, recipe, the training loop and run, checkpoints, the GPU lease.
- ``report/``: run records, aggregate, facts, figures, prose, the rendered paper.
- shared, here: ``contract`` (the files between stages), ``atomic`` (writes), ``errors``,
  ``formatting``, ``merging``, ``ablations`` and ``beyond`` (the config's experiments),
  ``code_version``, ``hardware``.
- the entry points, here too: ``config`` (validates a config against every stage's
  registries), ``cli`` (the ``tinycnn`` command the rules call), ``reference`` (the runs kept
  in ``reference/``).

tests/shared/test_boundaries.py checks who may import whom.
"""

__version__ = "0.1.0"
