# Data stage: download the archive, pack its JPEGs into uint8 arrays, and
# materialize the augmentation sets (plus their preview grids).


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
        urls=" ".join(f"--url {shlex.quote(u)}" for u in source_urls()),
        md5=config["data"]["md5"],
        size=f"--size {config['data']['size']}" if config["data"].get("size") else "",
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
        images=augmented("{aug_set}"),
        preview=report(
            preview("{aug_set}"),
            caption="../../report/captions/preview.rst",
            category="Data",
            labels={"figure": "preview", "set": "{aug_set}"},
        ),
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
        preview_images=config["augmentation"].get("preview", {}).get("images", 8),
        preview_draws=config["augmentation"].get("preview", {}).get("draws", 6),
    shell:
        "tinycnn augment --images {input.images} --set-name {wildcards.aug_set}"
        " --ops {params.ops} --seed {params.seed} --out {output.images}"
        " --preview {output.preview} --preview-images {params.preview_images}"
        " --preview-draws {params.preview_draws} --threads {threads} 2> {log}"
