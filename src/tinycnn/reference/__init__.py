"""Reference runs: real runs of the paper kept in the repository (``reference/``).

A machine (a 2-core CPU for M1's runs, a GPU for the rest) trains the next runs of the plan
with ``tinycnn reference run`` (:mod:`.runner`) and returns one records file
(:mod:`.records_file`). Here, ``tinycnn reference merge`` checks that file and adds its runs to
the folder (:mod:`.folder`, each record checked as the aggregate checks run folders:
:mod:`.checks`), and ``tinycnn reference render`` renders the paper from the folder, with no GPU
and no data; ``make paper-reference`` also rewrites the README's table (:mod:`.readme`). What
each run costs on the machine at hand, and the order, are :mod:`.plan`'s.

The folder::

    reference/identity.json              the data every record must have been trained on: the
                                         archive's MD5 and size, the packed arrays' and the
                                         materialized sets' SHA-256
    reference/data/                      stats.json, classes.tsv, <set>_preview.png: what the
                                         paper shows of the data
    reference/runs/<experiment>/seed<s>/ metrics.csv, summary.json, settings.json, train.log
    reference/digests.json               the SHA-256 of every file of every run merged
    reference/manifest.json              every sitting merged: machine, versions, commit,
                                         budget, each run's measured and projected time

Everything here but the runner is torch-free: it runs where the report renders.
"""

from tinycnn.reference.checks import (
    data_problems,
    differences,
    record_problems,
    stale_keys,
)
from tinycnn.reference.folder import (
    DIGESTS,
    FOLDER,
    Merged,
    context,
    digest_problems,
    file_digests,
    folder_problems,
    hardware,
    merge,
    run_folders,
    runs_as_configured,
    runs_in_paper,
)
from tinycnn.reference.plan import (
    CONFIG_FILES,
    CPU_LIMIT_HOURS,
    RATES,
    describe_rates,
    images_per_epoch,
    load_config,
    load_rates,
    plan,
    priority_order,
    project_seconds,
    run_groups,
    waits_for,
)
from tinycnn.reference.readme import README_BEGIN, README_END, readme_table, update_readme
from tinycnn.reference.records_file import (
    DATA_FILES,
    MAX_MEMBERS,
    MEMBER_LIMITS,
    PACKED_ARRAYS,
    RUN_FILES,
    member_limit,
    read_records,
    write_records,
)

__all__ = [
    "CONFIG_FILES",
    "CPU_LIMIT_HOURS",
    "DATA_FILES",
    "DIGESTS",
    "FOLDER",
    "MAX_MEMBERS",
    "MEMBER_LIMITS",
    "PACKED_ARRAYS",
    "RATES",
    "README_BEGIN",
    "README_END",
    "RUN_FILES",
    "Merged",
    "context",
    "data_problems",
    "describe_rates",
    "differences",
    "digest_problems",
    "file_digests",
    "folder_problems",
    "hardware",
    "images_per_epoch",
    "load_config",
    "load_rates",
    "member_limit",
    "merge",
    "plan",
    "priority_order",
    "project_seconds",
    "read_records",
    "readme_table",
    "record_problems",
    "run_folders",
    "run_groups",
    "runs_as_configured",
    "runs_in_paper",
    "stale_keys",
    "update_readme",
    "waits_for",
    "write_records",
]  # fmt: skip
