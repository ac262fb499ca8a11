# Data stage: download the archive, pack its JPEGs into uint8 arrays, materialize
# the augmentation sets, and draw their preview grids.
#
# A job reruns when what it computes changes, and only then (tests/integration/test_workflow.py
# checks each case with `snakemake -n`): the archive is named by its checksum, so
# its sources (URLs, mirrors, a local copy) are not tracked; the previews are jobs
# of their own, so their size never reruns a set and the training behind it.


wildcard_constraints:
    aug_set="|".join(AUG_SETS),


rule download:
    output:
        ARCHIVE,
    log:
        f"logs/download_{config['data']['filename']}.log",
    conda:
        "../../envs/torch.yaml"
    params:
        # A function of the output: Snakemake treats such params as derived from the files
        # (the archive's path holds its md5) and never reruns the job for a change of them. A
        # typo in `size` must not rerun (and so delete) an archive already verified: it counts
        # only for a download still to be made.
        command=lambda w, output: commands.shell(
            commands.download(
                source_urls(), config["data"]["md5"], config["data"].get("size"), output[0]
            )
        ),
    shell:
        "{params.command} 2> {log}"


rule pack:
    input:
        ARCHIVE,
    output:
        **PACKED_FILES,
    log:
        f"{LOGS}/pack.log",
    benchmark:
        f"{RESULTS}/benchmarks/pack.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 2
    resources:
        mem_mb=4000,
    params:
        command=lambda w, input, output, threads: commands.shell(
            commands.pack(input[0], Path(output.stats).parent, threads)
        ),
    shell:
        "{params.command} 2> {log}"


rule augment:
    input:
        images=PACKED_FILES["train_images"],
    output:
        augmented("{aug_set}"),
    log:
        f"{LOGS}/augment_{{aug_set}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/augment_{{aug_set}}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 2
    resources:
        mem_mb=4000,
    params:
        # What draws the set: a change of it draws the set again (a param that is a function
        # of the threads, as the command is, would not).
        drawn=lambda w: commands.drawing(config, w.aug_set),
        command=lambda w, input, output, threads: commands.shell(
            commands.augment(config, w.aug_set, input.images, output[0], threads)
        ),
    shell:
        "{params.command} 2> {log}"


# A few images drawn in seconds: never worth a cluster job.
localrules:
    preview,


rule preview:
    input:
        images=PACKED_FILES["train_images"],
    output:
        report(
            preview("{aug_set}"),
            caption="../../report/snakemake/preview.rst",
            category="Data",
            labels={"figure": "preview", "set": "{aug_set}"},
        ),
    log:
        f"{LOGS}/preview_{{aug_set}}.log",
    conda:
        "../../envs/torch.yaml"
    params:
        # A function of the wildcards only: a change of the set or of the grid draws it again.
        command=lambda w: commands.shell(
            commands.preview(config, w.aug_set, PACKED_FILES["train_images"], preview(w.aug_set))
        ),
    shell:
        "{params.command} 2> {log}"
