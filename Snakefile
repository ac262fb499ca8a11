# Regenerate "Convolutional Neural Networks on Tiny ImageNet" (Mkrtchyan, 2022).
#
#   snakemake --cores 8 --resources gpu=1                   # the paper, on a GPU workstation
#   snakemake --cores 2 --configfile presets/demo.yaml      # the offline CPU demo
#
# Stages: data (download, pack, augment) -> train -> report. See README.md.
from pathlib import Path


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
    print(f"\nThe paper: {RESULTS}/paper.pdf (and {RESULTS}/paper.html)")
