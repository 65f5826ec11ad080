"""Compare a recorded run manifest with a rebuilt one: which artifacts are identical, which differ, and why.

Walking the DAG in topological order (edges: the inputs Snakemake recorded for each artifact), an artifact that
differs although every input is byte-identical is a *point of divergence*. It is explained when its job changed
(rule, params, command, script or package code, package versions, hardware), tolerated when the audit runs in
`tolerance` mode and its rule is one whose output GPUs do not reproduce bit for bit (and, for JSON metrics, every
number stays within the stated tolerances), and otherwise unexplained: same inputs, same code, different result.
An artifact that differs because an input differs is *downstream* and inherits its roots' verdict.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from typing import Any

# Every rule that samples from a policy (scripts/generate.py; generate_eval also answers the chat benchmarks). Under the vLLM backend,
# on GPUs and on CPU alike, their samples are not bit-reproducible: continuous batching decides from timing which
# requests share a step (the engine runs in its own process), and a row's logits, hence a sampled token near a tie,
# depend on the batch it is computed in; every sample has its own seed (online_rlhf.generation.request_seed), so
# the draws themselves do not move with the batching.
GENERATION_RULES = frozenset({"generate", "generate_eval", "generate_validation", "length_bias_samples"})

# Jobs whose outputs are bit-identical on CPU (seeded, deterministic kernels) but not on GPUs: cuBLAS/cuDNN kernels
# with atomics or split-K reductions in training, bf16 accumulation, DeepSpeed's reduction order, and vLLM's
# continuous batching (which prompts share a batch depends on timing, and so do padding and the kernels chosen).
# An API judge (the paper's GPT-4 benchmarks) does not reproduce its answers even at temperature 0. Every rule whose
# `gpu` resource the config sets is here (tests/test_manifest.py checks it against rules/*.smk); every other rule is
# a pure function of its inputs on any hardware and must always reproduce exactly.
GPU_NONDETERMINISTIC_RULES = GENERATION_RULES | frozenset(
    {
        "train_sft", "train_reward_model", "train_offline_dpo", "train_dpo", "train_preference_model",
        # every job that runs a judge model (rules/common.smk: one definition of judging) or asks an API judge
        "score", "judge_eval", "judge_validation", "length_bias_score",
        "evaluate_reward_model", "evaluate_preference_model", "reward_bench", "lm_eval", "judge_benchmark",
    }
)
MODES = ("exact", "tolerance")
DEFAULT_RELATIVE_TOLERANCE = 0.05

# Verdicts, from best to worst; a downstream artifact takes the worst verdict among its roots.
IDENTICAL, TOLERATED, EXPLAINED, UNEXPLAINED = "identical", "tolerated", "explained", "unexplained"
SEVERITY = {IDENTICAL: 0, TOLERATED: 1, EXPLAINED: 2, UNEXPLAINED: 3}
EXIT_CODES = {IDENTICAL: 0, TOLERATED: 0, EXPLAINED: 3, UNEXPLAINED: 1}


@dataclass
class Tolerances:
    """Numeric JSON fields in tolerance mode: |a - b| <= absolute[key] for a named key, else <= relative x max(|a|, |b|)."""

    relative: float = DEFAULT_RELATIVE_TOLERANCE
    absolute: dict[str, float] = field(default_factory=dict)

    def allows(self, key: str, a: float, b: float) -> bool:
        if key in self.absolute:
            return abs(a - b) <= self.absolute[key]
        return abs(a - b) <= self.relative * max(abs(a), abs(b))

    @classmethod
    def from_config(cls, audit: dict) -> Tolerances:
        return cls(relative=audit.get("relative_tolerance", DEFAULT_RELATIVE_TOLERANCE), absolute=dict(audit.get("absolute_tolerance", {})))


@dataclass
class Row:
    path: str
    rule: str | None
    status: str  # identical | differs | within tolerance | beyond tolerance | tolerated | downstream | only in ...
    verdict: str
    detail: str = ""
    roots: list[str] = field(default_factory=list)


@dataclass
class Audit:
    mode: str
    header: list[Row]
    rows: list[Row]

    @property
    def verdict(self) -> str:
        # Run-level rows (config, code, ...) only explain; the verdict is about the artifacts.
        return max((r.verdict for r in self.rows), key=SEVERITY.__getitem__, default=IDENTICAL)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    @property
    def divergences(self) -> list[Row]:
        """Points of divergence, in DAG order: artifacts that differ while their inputs do not, or whose own job
        (rule, params, command, script) changed."""
        return [r for r in self.rows if r.verdict != IDENTICAL and r.path in r.roots]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.rows:
            out[r.status] = out.get(r.status, 0) + 1
        return out

    def to_json(self) -> dict[str, Any]:
        def row(r: Row) -> dict[str, Any]:
            return {"path": r.path, "rule": r.rule, "status": r.status, "verdict": r.verdict, "detail": r.detail, "roots": r.roots}

        return {
            "mode": self.mode,
            "verdict": self.verdict,
            "exit_code": self.exit_code,
            "counts": self.counts(),
            "divergences": [row(r) for r in self.divergences],
            "header": [row(r) for r in self.header],
            "artifacts": [row(r) for r in self.rows],
        }


# ---- DAG order -----------------------------------------------------------------------------------------------------

def topological_order(*artifact_maps: dict[str, dict]) -> list[str]:
    """Every artifact of the given manifests, inputs before the artifacts made from them (ties by path)."""
    nodes: set[str] = set()
    parents: dict[str, set[str]] = {}
    for artifacts in artifact_maps:
        for path, entry in artifacts.items():
            nodes.add(path)
            for inp in entry.get("inputs", {}):
                nodes.add(inp)
                parents.setdefault(path, set()).add(inp)
    children: dict[str, set[str]] = {}
    waiting = {n: len(parents.get(n, ())) for n in nodes}
    for child, ps in parents.items():
        for p in ps:
            children.setdefault(p, set()).add(child)
    ready = [n for n, k in waiting.items() if k == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        node = heapq.heappop(ready)
        order.append(node)
        for child in children.get(node, ()):
            waiting[child] -= 1
            if waiting[child] == 0:
                heapq.heappush(ready, child)
    if len(order) != len(nodes):
        cycle = sorted(n for n, k in waiting.items() if k > 0)
        raise ValueError(f"manifest inputs form a cycle through {cycle[:5]}")
    return order


# ---- what changed -----------------------------------------------------------------------------------------------

def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as dotted keys (lists stay values)."""
    if not isinstance(obj, dict):
        return {prefix: obj}
    out: dict[str, Any] = {}
    for key, value in obj.items():
        out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def changed_keys(old: dict, new: dict) -> list[str]:
    """`key: old -> new` for every dotted key whose value differs (absent shown as -)."""
    a, b = flatten(old), flatten(new)
    return [f"{k}: {a.get(k, '-')} -> {b.get(k, '-')}" for k in sorted(set(a) | set(b)) if a.get(k, "-") != b.get(k, "-")]


def own_job_changes(old: dict, new: dict) -> list[str]:
    """What changed in this artifact's own job: its rule, params, command line or script."""
    from online_rlhf.provenance.manifest import command_options

    reasons = []
    if old.get("rule") != new.get("rule"):
        reasons.append(f"rule: {old.get('rule')} -> {new.get('rule')}")
    options = changed_keys(command_options(old.get("shellcmd")), command_options(new.get("shellcmd")))
    if old.get("params") != new.get("params"):
        reasons.append("params: " + ("; ".join(options) if options else f"{old.get('params')} -> {new.get('params')}"))
    elif options:
        reasons.append("command: " + "; ".join(options))
    if old.get("script_sha256") != new.get("script_sha256"):
        reasons.append(f"code: {new.get('script') or old.get('script')} changed")
    if old.get("software_stack_hash") != new.get("software_stack_hash"):
        reasons.append("software stack (conda env / container) changed")
    return reasons


def run_changes(recorded: dict, rebuilt: dict) -> list[str]:
    """What changed for every job of the run: the package's code, package versions, hardware."""
    reasons = []
    package_code = [f for f in code_changes(recorded, rebuilt) if f.startswith("online_rlhf/")]
    if package_code:
        reasons.append("code: " + ", ".join(package_code[:5]) + (" ..." if len(package_code) > 5 else "") + " changed")
    packages = changed_keys(recorded.get("environment", {}).get("packages", {}), rebuilt.get("environment", {}).get("packages", {}))
    if packages:
        reasons.append("packages: " + "; ".join(packages))
    variables = changed_keys(recorded.get("environment", {}).get("variables", {}), rebuilt.get("environment", {}).get("variables", {}))
    if variables:
        reasons.append("environment variables: " + "; ".join(variables))
    hw = changed_keys(recorded.get("hardware", {}), rebuilt.get("hardware", {}))
    if hw:
        reasons.append("hardware: " + "; ".join(hw) + " (floating-point kernels may differ)")
    return reasons


def code_changes(recorded: dict, rebuilt: dict) -> list[str]:
    a = recorded.get("code", {}).get("files", {})
    b = rebuilt.get("code", {}).get("files", {})
    return sorted(f for f in set(a) | set(b) if a.get(f) != b.get(f))


# ---- numbers within tolerance -------------------------------------------------------------------------------------

def json_differences(a: Any, b: Any, tol: Tolerances, path: str = "") -> tuple[list[str], list[str]]:
    """(beyond, within): numeric leaves outside / inside the tolerances; any other difference is beyond."""
    key = path.rsplit(".", 1)[-1]
    if _is_number(a) and _is_number(b):
        if a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)):
            return [], []
        line = f"{path}: {a} -> {b} (delta {abs(a - b):.3g})"
        return ([], [line]) if tol.allows(key, a, b) else ([line], [])
    if isinstance(a, dict) and isinstance(b, dict):
        beyond, within = [], []
        for k in sorted(set(a) | set(b)):
            sub = f"{path}.{k}" if path else str(k)
            if k not in a or k not in b:
                beyond.append(f"{sub}: only in {'rebuild' if k in b else 'recorded'}")
                continue
            x, y = json_differences(a[k], b[k], tol, sub)
            beyond += x
            within += y
        return beyond, within
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        beyond, within = [], []
        for i, (x, y) in enumerate(zip(a, b)):
            bx, wy = json_differences(x, y, tol, f"{path}[{i}]")
            beyond += bx
            within += wy
        return beyond, within
    return ([] if a == b else [f"{path or '<root>'}: {_short(a)} -> {_short(b)}"]), []


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _short(x: Any) -> str:
    text = repr(x)
    return text if len(text) <= 40 else text[:37] + "..."


def tolerance_check(old: dict, new: dict, tol: Tolerances) -> tuple[str, str, str]:
    """(status, verdict, detail) of a differing artifact in tolerance mode: JSON numbers compared (from the content
    the manifests embed), anything else (weights, sampled tables, figures) tolerated as GPU nondeterminism."""
    if "content" not in old and "content" not in new:
        return "tolerated", TOLERATED, "not compared byte for byte in tolerance mode (GPU-nondeterministic)"
    if "content" not in old or "content" not in new:
        return "beyond tolerance", UNEXPLAINED, "JSON content embedded on one side only: numbers cannot be compared"
    beyond, within = json_differences(old["content"], new["content"], tol)
    if beyond:
        return "beyond tolerance", UNEXPLAINED, "; ".join(beyond[:3]) + (f" (+{len(beyond) - 3} more)" if len(beyond) > 3 else "")
    return "within tolerance", TOLERATED, f"{len(within)} number(s) moved within tolerance" + (f", e.g. {within[0]}" if within else "")


# ---- the comparison -----------------------------------------------------------------------------------------------

def header_rows(recorded: dict, rebuilt: dict) -> list[Row]:
    """Run-level identity: config, code, packages, environment variables, hardware, git. Differences here explain
    artifact differences."""
    rows = []
    config = changed_keys(recorded["run"]["config"], rebuilt["run"]["config"])
    rows.append(_header("config", config, EXPLAINED))
    code = code_changes(recorded, rebuilt)
    rows.append(_header("code", [f"{f} changed" for f in code], EXPLAINED))
    env_a, env_b = recorded.get("environment", {}), rebuilt.get("environment", {})
    rows.append(_header("packages", changed_keys(env_a.get("packages", {}), env_b.get("packages", {})), EXPLAINED))
    rows.append(_header("variables", changed_keys(env_a.get("variables", {}), env_b.get("variables", {})), EXPLAINED))
    hw = changed_keys(recorded.get("hardware", {}), rebuilt.get("hardware", {}))
    rows.append(_header("hardware", hw, EXPLAINED))
    git_a, git_b = recorded.get("code", {}).get("git", {}), rebuilt.get("code", {}).get("git", {})
    if git_a.get("commit") and git_b.get("commit") and git_a["commit"] != git_b["commit"]:
        rows.append(Row("git", None, "differs", EXPLAINED, f"{git_a['commit'][:12]} -> {git_b['commit'][:12]}"))
    else:
        commit = git_a.get("commit") or git_b.get("commit")
        dirty = " (dirty)" if git_a.get("dirty") or git_b.get("dirty") else ""
        note = f"{commit[:12]}{dirty}" if commit else "not a git checkout"
        if commit and not (git_a.get("commit") and git_b.get("commit")):
            note += "; the other side is a copy outside git: code is compared by file hashes"
        rows.append(Row("git", None, "identical", IDENTICAL, note))
    return rows


def _header(name: str, changes: list[str], verdict: str) -> Row:
    if not changes:
        return Row(name, None, "identical", IDENTICAL)
    return Row(name, None, "differs", verdict, "; ".join(changes[:4]) + (f" (+{len(changes) - 4} more)" if len(changes) > 4 else ""))


def compare(
    recorded: dict,
    rebuilt: dict,
    mode: str = "exact",
    tolerances: Tolerances | None = None,
) -> Audit:
    if mode not in MODES:
        raise ValueError(f"audit mode {mode!r}: expected one of {list(MODES)}")
    tol = tolerances or Tolerances()
    header = header_rows(recorded, rebuilt)
    run_changed = any(r.verdict != IDENTICAL for r in header if r.path != "git")
    arts_a, arts_b = recorded["artifacts"], rebuilt["artifacts"]
    rows: dict[str, Row] = {}
    for path in topological_order(arts_a, arts_b):
        a, b = arts_a.get(path), arts_b.get(path)
        rule = (b or a or {}).get("rule")
        if a is None or b is None:
            side = "rebuild" if a is None else "recorded run"
            verdict = EXPLAINED if run_changed else UNEXPLAINED
            why = "the run's config or code differs" if run_changed else "same config and code, yet the DAG differs"
            rows[path] = Row(path, rule, f"only in {side}", verdict, why, [path])
            continue
        if a["sha256"] == b["sha256"]:
            rows[path] = Row(path, rule, "identical", IDENTICAL)
            continue
        inputs = set(a.get("inputs", {})) | set(b.get("inputs", {}))
        changed = sorted(i for i in inputs if i in rows and rows[i].verdict != IDENTICAL)
        if set(a.get("inputs", {})) != set(b.get("inputs", {})):
            added = sorted(set(b.get("inputs", {})) - set(a.get("inputs", {})))
            removed = sorted(set(a.get("inputs", {})) - set(b.get("inputs", {})))
            rows[path] = Row(path, rule, "differs", EXPLAINED, f"inputs changed: +{added} -{removed}", [path])
            continue
        own = own_job_changes(a, b) if a.get("rule") else []
        if changed:
            roots = sorted({r for i in changed for r in rows[i].roots})
            verdict = max((rows[r].verdict for r in roots), key=SEVERITY.__getitem__)
            if verdict == TOLERATED and not own:
                status, verdict, detail = tolerance_check(a, b, tol)
                detail = f"downstream of tolerated {_names(roots)}; {detail}"
            else:
                status, detail = "downstream", f"an input differs; first divergence upstream: {_names(roots)}"
            if own:
                # Its own job changed as well: a point of divergence in its own right, hidden behind the upstream one.
                roots, verdict = sorted({*roots, path}), max(verdict, EXPLAINED, key=SEVERITY.__getitem__)
                detail += "; own job changed too: " + "; ".join(own)
            rows[path] = Row(path, rule, status, verdict, detail, roots)
            continue
        reasons = own + run_changes(recorded, rebuilt) if a.get("rule") else []
        if reasons:
            rows[path] = Row(path, rule, "differs", EXPLAINED, "; ".join(reasons), [path])
        elif mode == "tolerance" and rule in GPU_NONDETERMINISTIC_RULES:
            status, verdict, detail = tolerance_check(a, b, tol)
            rows[path] = Row(path, rule, status, verdict, detail, [path])
        else:
            what = "same inputs, same command and code, different output" if a.get("rule") else "source file changed"
            rows[path] = Row(path, rule, "differs", UNEXPLAINED, what, [path])
    return Audit(mode=mode, header=header, rows=list(rows.values()))


def _names(paths: list[str]) -> str:
    return ", ".join(paths[:3]) + (f" (+{len(paths) - 3} more)" if len(paths) > 3 else "")


# ---- output ---------------------------------------------------------------------------------------------------------

def format_table(rows: list[Row], detail_width: int = 110) -> str:
    """A plain-text table: artifact, rule, status, detail (cut to `detail_width` characters; audit.json has it all)."""
    cols = [("artifact", [r.path for r in rows]), ("rule", [r.rule or "-" for r in rows]), ("status", [r.status for r in rows])]
    widths = [max([len(title)] + [len(v) for v in values]) for title, values in cols]
    lines = ["  ".join(title.ljust(w) for (title, _), w in zip(cols, widths)) + "  detail"]
    lines.append("  ".join("-" * w for w in widths) + "  ------")
    for r in rows:
        detail = r.detail if len(r.detail) <= detail_width else r.detail[: detail_width - 3] + "..."
        lines.append("  ".join(v.ljust(w) for v, w in zip((r.path, r.rule or "-", r.status), widths)) + "  " + detail)
    return "\n".join(lines)


def format_audit(audit: Audit, recorded_label: str, rebuilt_label: str) -> str:
    counts = ", ".join(f"{n} {s}" for s, n in sorted(audit.counts().items()))
    parts = [
        f"audit ({audit.mode} mode): recorded {recorded_label} vs rebuilt {rebuilt_label}",
        "",
        format_table(audit.header),
        "",
        format_table(audit.rows),
        "",
        f"{len(audit.rows)} artifacts: {counts}",
    ]
    roots = audit.divergences
    if roots:
        first = roots[0]
        parts.append(f"first point of divergence: {first.path} (rule {first.rule or '-'}; {first.verdict}): {first.detail}")
        if len(roots) > 1:
            parts.append("other points of divergence: " + ", ".join(f"{r.path} ({r.verdict})" for r in roots[1:]))
    messages = {
        IDENTICAL: "REPRODUCED: every artifact is byte-identical",
        TOLERATED: "REPRODUCED within tolerance: differences only where the GPU stack is nondeterministic, numbers within tolerance",
        EXPLAINED: "DIFFERENT, and every difference is explained by a change of config, code, packages or hardware",
        UNEXPLAINED: "NOT REPRODUCED: unexplained differences (same inputs, same code, different results)",
    }
    parts.append(f"verdict: {messages[audit.verdict]} (exit {audit.exit_code})")
    return "\n".join(parts)
