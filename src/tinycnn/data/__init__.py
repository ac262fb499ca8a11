"""Stage 1, data: the archive in, packed arrays and augmented sets out.

``download`` (fetch and verify the archive), ``tinyimagenet`` (the archive's layout),
``pack`` (the archive as uint8 arrays), ``augment`` with ``augment_ops`` and ``op_geometry``
(the augmentation sets, materialized or drawn online), ``demo_data`` (the embedded demo
archive). Imports the shared modules only (tests/shared/test_boundaries.py).
"""
