# Training stage: one job per experiment and seed, each holding one GPU.


wildcard_constraints:
    experiment="|".join(re.escape(e) for e in config["experiments"]),
    seed=r"\d+",


rule train:
    input:
        unpack(train_inputs),
    output:
        metrics=run_file("metrics.csv"),
        summary=run_file("summary.json"),
        weights=run_file("model.pt"),
    log:
        f"{LOGS}/train/{{experiment}}_seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/{{experiment}}_seed{{seed}}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 4
    resources:
        gpu=1,
        mem_mb=24000,
        runtime=lambda w, attempt: 720 * attempt,
    params:
        settings=lambda w: shlex.quote(json.dumps(training_settings(config, w.experiment))),
        augmented=lambda w, input: " ".join(
            f"--augmented {s}={input[s]}" for s in fixed_sets(w.experiment)
        ),
        data=lambda w, input: Path(input.stats).parent,
        out=lambda w, output: Path(output.summary).parent,
        checkpoint=checkpoint_path,
    shell:
        "tinycnn train --settings {params.settings} --seed {wildcards.seed}"
        " --data {params.data} {params.augmented} --out {params.out}"
        " --checkpoint {params.checkpoint} --threads {threads} 2> {log}"
