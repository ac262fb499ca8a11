# Regenerate "Convolutional Neural Networks on Tiny ImageNet" (Mkrtchyan, 2022).
#
#   snakemake --cores 8 --resources gpu=1                   # the paper, on a GPU workstation
#   snakemake --cores 2 --configfile presets/demo.yaml      # the offline CPU demo
#
# Stages: data (download, pack, augment) -> train -> report. See README.md.
from pathlib import Path

from snakemake.utils import min_version

# The pinned Snakemake (requirements.lock) is 9.x; the rules use its executor plugins and
# `report()` labels.
min_version("9.0")


# `snakemake --report report.zip`: this text opens Snakemake's own report.
report: "report/snakemake/workflow.rst"


# The paper's config, wherever snakemake runs; presets and --config override it.
configfile: Path(workflow.basedir) / "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        all_targets(),


onsuccess:
    # Name the paper only when this run made it or found it up to date: it was a target.
    papers = [f"{RESULTS}/paper.pdf", f"{RESULTS}/paper.html"]
    targets = workflow.dag_settings.targets
    wanted = not targets or bool({"all", "paper_pdf", "paper_html"} & set(targets))
    wanted |= any(Path(t).resolve() == Path(p).resolve() for t in targets for p in papers)
    built = [p for p in papers if wanted and Path(p).is_file()]
    if built:
        print(f"\nThe paper: {' (and '.join(built)}{')' * (len(built) - 1)}")
