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
        # Functions of the output: Snakemake treats such params as derived from the files
        # (the archive's path holds its md5) and never reruns the job for a change of them. A
        # typo in `size` must not rerun (and so delete) an archive already verified: it counts
        # only for a download still to be made.
        urls=lambda w, output: " ".join(f"--url {shlex.quote(u)}" for u in source_urls()),
        md5=lambda w, output: config["data"]["md5"],
        size=lambda w, output: (
            f"--size {config['data']['size']}" if config["data"].get("size") else ""
        ),
    shell:
        "tinycnn download {params.urls} --md5 {params.md5} {params.size} --out {output} 2> {log}"


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
        out=lambda wildcards, output: Path(output.stats).parent,
    shell:
        "tinycnn pack --archive {input} --out {params.out} --workers {threads} 2> {log}"


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
        ops=augment_ops_json,
        seed=config["augmentation"]["seed"],
    shell:
        "tinycnn augment --images {input.images} --set-name {wildcards.aug_set}"
        " --ops {params.ops} --seed {params.seed} --out {output} --threads {threads} 2> {log}"


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
        ops=augment_ops_json,
        seed=config["augmentation"]["seed"],
        rows=config["augmentation"].get("preview", {}).get("images", 8),
        draws=config["augmentation"].get("preview", {}).get("draws", 6),
    shell:
        "tinycnn preview --images {input.images} --set-name {wildcards.aug_set}"
        " --ops {params.ops} --seed {params.seed} --out {output}"
        " --rows {params.rows} --draws {params.draws} 2> {log}"
