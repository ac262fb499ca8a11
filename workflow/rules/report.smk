# Report stage: aggregate every run into tables and figures, then render the
# paper (HTML, then PDF). Figures also go into `snakemake --report report.zip`.


# The merged config as the report reads it (validated once, when the workflow was parsed).
# Its params are the whole config, as JSON with sorted keys: any edit rewrites the file, and
# the report is rendered again.
localrules:
    config_snapshot,


rule config_snapshot:
    output:
        f"{RESULTS}/config.json",
    log:
        f"{LOGS}/config_snapshot.log",
    conda:
        "../../envs/report.yaml"
    params:
        json=json.dumps(config, sort_keys=True),
    script:
        "../scripts/write_json.py"


# Each run is checked against its experiment's settings file and the data it names (the
# packed files, the materialized sets): a run that does not hold together fails the aggregate.
rule aggregate:
    input:
        unpack(aggregate_inputs),
    output:
        **figure_outputs(),
        **aggregate_files(),
    log:
        f"{LOGS}/aggregate.log",
    conda:
        "../../envs/report.yaml"
    params:
        command=lambda w, input, output: commands.shell(
            commands.aggregate(
                input.config,
                Path(output.runs).parent,
                [Path(p).parent for p in input.summaries],
                settings_dir=Path(settings_file("experiment")).parent,
                data_dir=PACKED,
                augmented={s: input[augmented_key(s)] for s in aggregate_sets()},
                architectures=input.architectures,
                paper_source=PAPER_SOURCE,
            )
        ),
    shell:
        "{params.command} 2> {log}"


rule paper_html:
    input:
        unpack(paper_inputs),
    output:
        report(
            f"{RESULTS}/paper.html",
            caption="../../report/snakemake/paper.rst",
            category="Paper",
        ),
    log:
        f"{LOGS}/paper_html.log",
    conda:
        "../../envs/report.yaml"
    params:
        command=lambda w, input, output: commands.shell(
            commands.paper_html(
                config=input.config,
                config_files=CONFIG_FILES,
                workflow_dir=workflow.basedir,
                paper_source=PAPER_SOURCE,
                aggregate=Path(input.runs).parent,
                stats=input.stats,
                classes=input.classes,
                previews={s: input[preview_key(s)] for s in AUG_SETS},
                out=output[0],
            )
        ),
    shell:
        "{params.command} 2> {log}"


rule paper_pdf:
    input:
        f"{RESULTS}/paper.html",
    output:
        report(
            f"{RESULTS}/paper.pdf",
            caption="../../report/snakemake/paper.rst",
            category="Paper",
        ),
    log:
        f"{LOGS}/paper_pdf.log",
    conda:
        "../../envs/report.yaml"
    params:
        command=lambda w, input, output: commands.shell(commands.paper_pdf(input[0], output[0])),
    shell:
        "{params.command} 2> {log}"
