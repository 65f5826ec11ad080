# Stage 1: base model and raw data (built for the made-up world, prefetched from the Hub otherwise), then every
# dataset normalised to the canonical tables with an audit trail of drops, and the preference mixtures.

import shlex

HUB_MODELS = {k: v for k, v in config["models"].items() if v["source"] == "hub"}
HUB_DATASETS = {k: v for k, v in DATASETS.items() if v["source"] == "hub"}


localrules:
    preflight,
    prefetch,
    prefetch_model,
    prefetch_dataset,


rule prefetch:
    """Login-node target: download every Hub model and dataset the config names, at its pinned revision."""
    input:
        [prefetched_model_dir(m) for m in HUB_MODELS],
        [f"resources/data/hub/{d}" for d in HUB_DATASETS],
        "resources/benchmarks/hub/reward_bench"
        if config["reward_bench"] and config["reward_bench"]["source"] == "hub"
        else [],
        [f"resources/benchmarks/hub/{b}" for b in hub_benchmarks()],
        [f"resources/benchmarks/url/{b}" for b, v in CHAT_BENCH.items() if v["source"] == "url"],


rule preflight:
    """Login-node check in seconds, before any job: every model's pad token and chat template, max lengths against
    the model's positions, precision against the launcher, prefetch completeness and revisions; each problem names
    the config key that fixes it (online_rlhf/preflight.py)."""
    params:
        config=lambda wc: as_json(config),
        downloads=" ".join(rules.prefetch.input),
    log:
        "results/logs/preflight.log",
    conda:
        "../envs/training.yaml"
    shell:
        "python scripts/preflight.py --config {params.config:q} --downloads {params.downloads} 2>&1 | tee {log}"


BASE = config["models"]["base"]
if BASE["source"] == "synthetic":

    rule build_base_model:
        """The made-up world's character tokenizer and random-init Llama; adopt_base_model makes it the base."""
        output:
            model=directory("resources/models/synthetic/built"),
        params:
            alphabet=config["world"]["alphabet"],
            architecture=as_json(BASE["architecture"]),
            seed=config["seed"],
        log:
            "results/logs/build_base_model.log",
        threads: 1
        resources:
            **rule_resources("build_base_model", gpu=False),
        conda:
            "../envs/training.yaml"
        shell:
            "python scripts/build_base_model.py --alphabet {params.alphabet:q} --architecture {params.architecture:q}"
            " --seed {params.seed} --output {output.model} > {log} 2>&1"


rule adopt_base_model:
    """One rule for every source (synthetic, hub, local, package): the base model folder with the configured pad
    token and chat template applied and checked (a GGUF file is converted to safetensors on the way)."""
    input:
        model=base_model_input(),
    output:
        model=directory(base_model_dir()),
    params:
        source=BASE["source"],
        # A package's GGUF file is the input itself; the script reads the folder and the file name.
        gguf=lambda wc, input: (
            f"--gguf-file {Path(input.model).name}" if BASE["source"] == "package" and BASE["file"] else ""
        ),
        model=lambda wc, input: (
            str(Path(input.model).parent) if BASE["source"] == "package" and BASE["file"] else input.model
        ),
        pad=f"--pad-token {shlex.quote(BASE['pad_token'])}" if BASE["pad_token"] else "",
        template=f"--chat-template {BASE['chat_template']}" if BASE["chat_template"] else "",
    log:
        "results/logs/adopt_base_model.log",
    benchmark:
        "results/benchmarks/adopt_base_model.tsv"
    threads: 1
    resources:
        **rule_resources("adopt_base_model", gpu=False),
    conda:
        "../envs/training.yaml"
    shell:
        "python scripts/adopt_base_model.py --source {params.source} --model {params.model} {params.gguf} {params.pad}"
        " {params.template} --output {output.model} > {log} 2>&1"


rule prefetch_model:
    output:
        model=directory("resources/models/prefetched/{name}"),
    wildcard_constraints:
        name=names_regex(HUB_MODELS),
    params:
        repo=lambda wc: HUB_MODELS[wc.name]["repo"],
        revision=lambda wc: HUB_MODELS[wc.name]["revision"],
    log:
        "results/logs/prefetch_model/{name}.log",
    conda:
        "../envs/data.yaml"
    shell:
        "python scripts/prefetch.py --repo-type model --repo {params.repo} --revision {params.revision}"
        " --output {output.model} > {log} 2>&1"


rule prefetch_dataset:
    output:
        data=directory("resources/data/hub/{dataset}"),
    wildcard_constraints:
        dataset=names_regex(HUB_DATASETS),
    params:
        repo=lambda wc: HUB_DATASETS[wc.dataset]["repo"],
        revision=lambda wc: HUB_DATASETS[wc.dataset]["revision"],
        files=lambda wc: HUB_DATASETS[wc.dataset]["files"],
    log:
        "results/logs/prefetch_dataset/{dataset}.log",
    conda:
        "../envs/data.yaml"
    shell:
        "python scripts/prefetch.py --repo-type dataset --repo {params.repo} --revision {params.revision}"
        " --files {params.files:q} --output {output.data} > {log} 2>&1"


SYNTHETIC = {k: v for k, v in DATASETS.items() if v["source"] == "synthetic"}


rule synthesize_dataset:
    """A dataset of the made-up world, in the native schema of the real source it stands for."""
    output:
        data=directory("resources/data/synthetic/{dataset}"),
    wildcard_constraints:
        dataset=names_regex(SYNTHETIC),
    params:
        format=lambda wc: SYNTHETIC[wc.dataset]["format"],
        rows=lambda wc: SYNTHETIC[wc.dataset]["synthetic"]["rows"],
        role=lambda wc: (
            f"--role {SYNTHETIC[wc.dataset]['synthetic']['role']}"
            if SYNTHETIC[wc.dataset]["synthetic"]["role"]
            else ""
        ),
        accuracy=lambda wc: (
            f"--accuracy {SYNTHETIC[wc.dataset]['synthetic']['accuracy']}"
            if SYNTHETIC[wc.dataset]["synthetic"]["accuracy"] is not None
            else ""
        ),
        world=as_json(config["world"]),
        # Each dataset its own seed stream, derived from the run seed and the dataset's name.
        seed=lambda wc: config["seed"] + zlib.crc32(wc.dataset.encode()) % 1_000_003,
    log:
        "results/logs/synthesize_dataset/{dataset}.log",
    threads: 1
    resources:
        **rule_resources("synthesize_dataset", gpu=False),
    conda:
        "../envs/data.yaml"
    shell:
        "python scripts/synthesize_dataset.py --format {params.format} --rows {params.rows} {params.role} {params.accuracy}"
        " --world {params.world:q} --seed {params.seed} --output {output.data}/data.jsonl > {log} 2>&1"


rule normalize_dataset:
    """Native schema -> canonical table; every dropped row, with file:line and reason, to results/data/drops/."""
    input:
        raw=lambda wc: raw_dataset(wc.dataset),
    output:
        table="results/data/{kind}/{dataset}.parquet",
        drops="results/data/drops/{kind}/{dataset}.parquet",
        summary="results/data/{kind}/{dataset}.json",
    wildcard_constraints:
        kind="pairs|sft|prompts",
    params:
        args=normalize_params,
    log:
        "results/logs/normalize_dataset/{kind}/{dataset}.log",
    threads: 1
    resources:
        **rule_resources("normalize_dataset", gpu=False),
    conda:
        "../envs/data.yaml"
    shell:
        "python scripts/normalize_dataset.py {params.args} --input {input.raw}"
        " --output {output.table} --drops {output.drops} --summary {output.summary} > {log} 2>&1"


rule build_mixture:
    input:
        pairs=mixture_inputs,
    output:
        table="results/data/mixtures/{mixture}.parquet",
        stats="results/data/mixtures/{mixture}.json",
    params:
        spec=lambda wc: as_json(config["mixtures"][wc.mixture]),
        # name=path, so the script never depends on the order of the spec's keys
        pairs=lambda wc, input: " ".join(
            f"{n}={p}" for n, p in zip(mixture_sources(config["mixtures"][wc.mixture]), input.pairs)
        ),
    log:
        "results/logs/build_mixture/{mixture}.log",
    threads: 1
    resources:
        **rule_resources("build_mixture", gpu=False),
    conda:
        "../envs/data.yaml"
    shell:
        "python scripts/build_mixture.py --name {wildcards.mixture} --spec {params.spec:q} --pairs {params.pairs}"
        " --output {output.table} --stats {output.stats} > {log} 2>&1"


rule mixture_stats:
    """Table 5 of the paper for one mixture: #prompts, #pairs, mean lengths in tokens of the policy tokenizer."""
    input:
        mixture="results/data/mixtures/{mixture}.parquet",
        tokenizer=base_model_dir(),
    output:
        json=report("results/data/stats/{mixture}.json", caption="../report/mixture_stats.rst", category="Data"),
        markdown=report("results/data/stats/{mixture}.md", caption="../report/mixture_stats.rst", category="Data"),
    params:
        datasets=lambda wc: as_json({s: DATASETS[s] for s in mixture_sources(config["mixtures"][wc.mixture])}),
    log:
        "results/logs/mixture_stats/{mixture}.log",
    threads: 1
    resources:
        **rule_resources("mixture_stats", gpu=False),
    conda:
        "../envs/training.yaml"
    shell:
        "python scripts/mixture_stats.py --name {wildcards.mixture} --mixture {input.mixture} --tokenizer {input.tokenizer}"
        " --datasets {params.datasets:q} --json {output.json} --markdown {output.markdown} > {log} 2>&1"
