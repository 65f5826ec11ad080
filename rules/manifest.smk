# Stage 7: the run manifest (results/manifest.json): every artifact's hash with the provenance Snakemake recorded
# for it as each job finished, plus code, package, seed, Hub and hardware identity. `make audit` rebuilds the DAG
# from scratch elsewhere and compares against it (scripts/audit.py).


localrules:
    manifest,


rule manifest:
    input:
        targets=[rules.report.output, *run_outputs()],
    output:
        manifest=report("results/manifest.json", caption="../report/manifest.rst", category="Provenance"),
    params:
        # a function: the config holds literal braces (prompt formats) that Snakemake must not read as wildcards
        config=lambda wc: as_json(config),
    log:
        "results/logs/manifest.log",
    threads: 1
    resources:
        **rule_resources("manifest", gpu=False),
    conda:
        "../envs/training.yaml"
    shell:
        "python scripts/manifest.py --targets {input.targets} --config {params.config:q} --output {output.manifest}"
        " > {log} 2>&1"
