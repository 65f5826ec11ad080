"""How a training rule starts its processes, and what its SLURM job asks for: `python` (no accelerate config),
`accelerate launch` with one process per GPU on one node, or `srun` starting `accelerate launch` once per node for a
job that spans several nodes. The config's per-rule `gpu` is GPUs per node; the job runs gpu x nodes processes. On a
node without GPUs (`gpu: 0`) the rule's `processes` sets how many CPU processes train together (DDP or DeepSpeed over
gloo; docs/distributed.md)."""

from __future__ import annotations

# accelerate's rendezvous port on the first node of the allocation (any free port; all nodes must agree).
MAIN_PROCESS_PORT = 29500


# The config section's `precision` -> accelerate's --mixed_precision. The launcher passes it, so the accelerate
# configs carry no precision of their own (one setting, one place; online_rlhf.train.trainers.launch_args checks it).
MIXED_PRECISION = {"fp32": "no", "bf16": "bf16"}


def processes_per_node(gpus_per_node: int, processes: int | None, rule: str) -> int:
    """One process per GPU; on a CPU node (`gpu: 0`) the rule's `processes` (default 1)."""
    if gpus_per_node and processes is not None and processes != gpus_per_node:
        raise ValueError(
            f"compute.rules.{rule}: processes = {processes} with gpu = {gpus_per_node}; a GPU job runs one process "
            "per GPU, so leave processes unset (it is for CPU nodes, gpu: 0)"
        )
    return gpus_per_node or processes or 1


def launch_prefix(
    accelerate_config: str | None, gpus_per_node: int, nodes: int, rule: str, precision: str = "fp32",
    processes: int | None = None,
) -> str:
    """The words in front of `scripts/train_<x>.py ...` in the rule's shell line."""
    if nodes < 1:
        raise ValueError(f"compute.rules.{rule}.nodes must be >= 1, got {nodes}")
    if precision not in MIXED_PRECISION:
        raise ValueError(f"precision of {rule} must be one of {sorted(MIXED_PRECISION)}, got {precision!r}")
    per_node = processes_per_node(gpus_per_node, processes, rule)
    if not accelerate_config:
        if nodes > 1:
            raise ValueError(
                f"compute.rules.{rule}.nodes = {nodes} needs an accelerate_config in the rule's config section: "
                "only accelerate launches one training across nodes"
            )
        if processes and processes > 1:
            raise ValueError(
                f"compute.rules.{rule}.processes = {processes} needs an accelerate_config in the rule's config "
                "section: only accelerate launches one training across processes"
            )
        return "python"
    processes = per_node
    accelerate = (
        f"accelerate launch --config_file config/accelerate/{accelerate_config}"
        f" --mixed_precision {MIXED_PRECISION[precision]}"
    )
    if nodes == 1:
        return f"{accelerate} --num_processes {processes}"
    # One srun task per node runs accelerate there. The inner shell expands $SLURM_NODEID (this node's rank) and the
    # allocation's first host (the rendezvous) on each node; "$@" is the training script and its arguments.
    return (
        f"srun --nodes {nodes} --ntasks-per-node 1 bash -c '{accelerate}"
        f" --num_machines {nodes} --num_processes {processes * nodes} --machine_rank $SLURM_NODEID"
        " --main_process_ip $(scontrol show hostnames $SLURM_JOB_NODELIST | head -n 1)"
        f" --main_process_port {MAIN_PROCESS_PORT} \"$@\"' accelerate"
    )


def gpu_resources(gpus_per_node: int, nodes: int) -> dict:
    """Snakemake resources for the SLURM plugin. One node: `gpu` (sbatch --gpus). Several: GPUs per node as GRES
    (`--gres=gpu:G` is per node, `--gpus` would be a total SLURM may spread unevenly), one task per node, and the
    plugin's `mpi` mode, in which the job step runs the rule's shell line itself so that its `srun` spans the nodes."""
    if nodes <= 1:
        return {"gpu": gpus_per_node}
    resources = {"mpi": "srun", "tasks": nodes, "tasks_per_gpu": 0}
    if gpus_per_node:
        resources["gres"] = f"gpu:{gpus_per_node}"
    return resources
