# Training stage: one job per experiment and seed, each holding one GPU.
import os
import signal

# On SLURM, the warning before a time limit (profiles/slurm: --signal=USR1@...) reaches every
# process of the job step, Snakemake's own included, and would kill them before the training
# has written its checkpoint. They ignore it (their children inherit that); `tinycnn train`
# installs its own handler, and the rule `exec`s it so that no shell stands in between.
if os.environ.get("SLURM_JOB_ID"):
    try:
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    except ValueError:  # not the main thread: nothing to protect here
        pass


wildcard_constraints:
    experiment="|".join(re.escape(experiment) for experiment in EXPERIMENTS),
    seed=r"\d+",


# The settings are resolved once per experiment, here, and travel as a file (what the train
# job reads). They are this rule's params, as JSON with sorted keys: Snakemake rewrites the
# file, and so retrains that experiment's jobs, when and only when the experiment's own
# settings change; not for an edit elsewhere in the config, a reported number or a new seed.
localrules:
    settings,


rule settings:
    output:
        settings_file("{experiment}"),
    log:
        f"{LOGS}/settings/{{experiment}}.log",
    conda:
        # The train rule's own environment: a change of it reruns the train jobs anyway, and
        # rewriting every settings file for a change of another one would retrain them all.
        "../../envs/torch.yaml"
    params:
        json=lambda w: json.dumps(training_settings(config, w.experiment, ENTRIES), sort_keys=True),
    script:
        "../scripts/write_json.py"


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
        command=lambda w, input, output, threads: commands.shell(
            commands.train(
                input.settings,
                w.seed,
                Path(input.stats).parent,
                {s: input[augmented_key(s)] for s in fixed_sets(w.experiment)},
                Path(output.summary).parent,
                checkpoint_path(w),
                threads,
            )
        ),
    shell:
        "exec {params.command} 2> {log}"


# Every model's layer table and parameter count from the model code, trained or not: the
# paper prints them for the models that wait for their runs too (the report imports no torch).
# The command names the architectures: it runs again when they change, not for any edit.
localrules:
    architectures,


rule architectures:
    input:
        stats=PACKED_FILES["stats"],
    output:
        f"{RESULTS}/architectures.json",
    log:
        f"{LOGS}/architectures.log",
    conda:
        "../../envs/torch.yaml"
    params:
        command=lambda w, input, output: commands.shell(
            commands.architectures(config, input.stats, output[0])
        ),
    shell:
        "{params.command} 2> {log}"
