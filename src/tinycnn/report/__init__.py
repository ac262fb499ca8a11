"""Stage 3, report: result files in, the aggregate's tables and figures and the paper out.

``records`` (the checks every run's files must pass), ``aggregate`` (runs to tables),
``facts`` (the numbers the words state), ``figures``, the words that depend on results
(``words``, shared; ``prose``, Sections 1-2 and the conclusion; ``claim_words``,
``ablation_words``, ``beyond_words``, ``provenance_words``), ``provenance`` (the jobs' record),
``inputs``, ``tables``, ``figure_records``, ``elements`` and ``context`` (the paper's parts in
reading order), ``render`` (HTML and PDF), ``source`` (where the paper's source is: the
repository's ``report/``, its templates, style and references). It reads files, never the
training code: no module here imports ``tinycnn.training`` or torch
(tests/shared/test_boundaries.py).
"""
