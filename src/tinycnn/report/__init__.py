"""Stage 3, report: result files in, the aggregate's tables and figures and the paper out.

``records`` (the checks every run's files must pass), ``aggregate`` (runs to tables),
``facts`` (the numbers the words state), ``figures``, the words that depend on results
(``words``, shared; ``prose``, Sections 1-2 and the conclusion; ``claim_words``,
``ablation_words``, ``beyond_words``, ``provenance_words``), ``provenance`` (the jobs' record),
``render`` (HTML and PDF), ``templates/`` (the paper's source). It reads files, never the
training code: no module here imports ``tinycnn.training`` or torch
(tests/shared/test_boundaries.py).
"""
