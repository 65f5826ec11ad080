"""The pairwise preference model's format and inference, the pivot scheme, RewardBench-style scoring, the length-bias
statistics and the judge options in the config."""

import copy
import json
import math
import random

import pytest

from online_rlhf.config import ConfigError, load_config, validate_config
from online_rlhf.core.records import Malformed, Record
from online_rlhf.judges.interface import accuracy, outcome, over_length, pair_margins
from online_rlhf.judges.length_bias import pearson, plot_heatmap
from online_rlhf.judges.length_bias import summarise as length_summary
from online_rlhf.judges.reward_bench import (
    MADEUP_SECTIONS,
    REWARDBENCH_BALANCED,
    REWARDBENCH_SECTIONS,
    benchmark_rows,
    madeup_benchmark,
    markdown_table,
    subset_weights,
    summarise,
)
from online_rlhf.train.preference_model import (
    LABELS,
    instruction,
    missing_pieces,
    pivot_comparisons,
    prefer_first_probabilities,
    prepare_tokenizer_and_model,
    score_with_preference_model,
    training_row,
)
from online_rlhf.world.task import WorldSpec, oracle_reward

ARCH = {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 2,
        "max_position_embeddings": 128}


@pytest.fixture(scope="module")
def pm_dir(tmp_path_factory):
    """A tiny untrained pairwise model: enough to check the arithmetic of both orders and the pivot."""
    from online_rlhf.train.models import build_base_model, build_tokenizer

    base = tmp_path_factory.mktemp("base")
    tok = build_tokenizer(["abcdefgh"])
    build_base_model(tok, ARCH, seed=0).save_pretrained(base)
    tok.save_pretrained(base)
    import torch

    tok, model, added = prepare_tokenizer_and_model(str(base), torch.float32)
    assert set(added) >= {"[CONTEXT]", "[RESPONSE A]", "[RESPONSE B]", "A", "B"}
    out = tmp_path_factory.mktemp("pm")
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return str(out)


def chat(q):
    return [{"role": "user", "content": q}]


def test_instruction_format_and_random_order():
    text = instruction(chat("abcd"), "dcba", "abcd")[0]["content"]
    assert text == "[CONTEXT] abcd [RESPONSE A] dcba [RESPONSE B] abcd"
    multi = instruction([*chat("ab"), {"role": "assistant", "content": "ba"}, *chat("cd")], "dc", "cd")[0]["content"]
    assert multi.startswith("[CONTEXT] [USER] ab\n[ASSISTANT] ba\n[USER] cd [RESPONSE A]")
    rng = random.Random(0)
    rows = [training_row({"prompt": chat("abcd"), "chosen": "dcba", "rejected": "abcd"}, rng) for _ in range(200)]
    labels = [r["completion"][0]["content"] for r in rows]
    assert 60 < labels.count("B") < 140  # both orders occur
    for r, label in zip(rows, labels):  # the label always names the position of the chosen answer
        shown_a = r["prompt"][0]["content"].split("[RESPONSE A] ")[1].split(" [RESPONSE B]")[0]
        assert (shown_a == "dcba") == (label == LABELS[0])


def test_pieces_are_added_only_where_the_vocabulary_lacks_them(pm_dir):
    from online_rlhf.train.models import load_tokenizer

    assert missing_pieces(load_tokenizer(pm_dir)) == []


def test_both_orders_make_a_consistent_probability(pm_dir):
    comps = [(chat("abcd"), "dcba", "abcd"), (chat("abcd"), "abcd", "dcba"), (chat("abc"), "cba", "cba")]
    probs, over = prefer_first_probabilities(pm_dir, comps, batch_size=2, max_length=128)
    assert probs[0] + probs[1] == pytest.approx(1.0, abs=1e-6)  # P(a > b) + P(b > a) = 1 whatever the model
    assert probs[2] == pytest.approx(0.5, abs=1e-6) and over == [False, False, False]


def test_over_length_comparisons_never_score(pm_dir):
    """A comparison longer than max_length in either order gets no probability (NaN), is flagged, and does not
    change the others' numbers; it used to be left-truncated (losing [CONTEXT] and answer A) and scored."""
    from online_rlhf.train.models import load_tokenizer

    tok = load_tokenizer(pm_dir)
    short, long = (chat("abcd"), "dcba", "abcd"), (chat("abcd"), "dcba" * 8, "abcd")
    def n_tokens(comparison):
        text = tok.apply_chat_template(instruction(*comparison), tokenize=False, add_generation_prompt=True)
        return len(tok(text, add_special_tokens=False)["input_ids"])

    n_short, n_long = n_tokens(short), n_tokens(long)
    assert n_short < n_long
    alone, _ = prefer_first_probabilities(pm_dir, [short], batch_size=2, max_length=n_short)
    probs, over = prefer_first_probabilities(pm_dir, [short, long], batch_size=2, max_length=n_short)
    assert over == [False, True] and math.isnan(probs[1]) and probs[0] == pytest.approx(alone[0], abs=1e-6)
    # The pivot scheme: the long response has no score; its prompt's pivot still has a scored comparison.
    ids = ["p", "p", "p"]
    scores, unscored = score_with_preference_model(pm_dir, ids, [chat("abcd")] * 3, ["dcba", "abcd", "dcba" * 8], 4, n_short)
    assert unscored == [False, False, True] and scores[0] == 0.5 and math.isnan(scores[2])
    # A pivot whose every comparison is over length was compared with nothing: flagged too.
    scores, unscored = score_with_preference_model(pm_dir, ["q", "q"], [chat("abcd")] * 2, ["dcba" * 8, "abcd"], 4, n_short)
    assert unscored == [True, True] and all(math.isnan(x) for x in scores)
    # Held-out / RewardBench margins: NaN, which counts as wrong (and the scripts count as non_finite).
    margins = pair_margins("preference_model", pm_dir, [chat("abcd")], ["dcba" * 8], ["abcd"], 4, n_short)
    assert math.isnan(margins[0]) and outcome(margins[0]) == 0.0


def test_pivot_scheme_costs_n_minus_one_comparisons_and_gives_the_pivot_one_half(pm_dir):
    comps, pivots = pivot_comparisons([[0, 1, 2, 3], [4, 5], [6]])
    assert comps == [(1, 0), (2, 0), (3, 0), (5, 4)] and pivots == [0, 4, 6]
    ids = ["p", "p", "p", "q", "q"]
    scores, unscored = score_with_preference_model(pm_dir, ids, [chat("abcd")] * 3 + [chat("ab")] * 2, ["dcba", "abcd", "dcb", "ba", "ab"], 4, 128)
    assert not any(unscored)
    assert scores[0] == 0.5 and scores[3] == 0.5 and all(0.0 < s < 1.0 for s in scores)
    margins = pair_margins("preference_model", pm_dir, [chat("abcd")], ["dcba"], ["abcd"], 4, 128)
    assert margins[0] == pytest.approx(scores[1] * -1 + 0.5, abs=1e-6)  # P(dcba > abcd) - 1/2 = 1/2 - P(abcd > dcba)


def test_over_length_is_measured_in_judge_tokens(pm_dir):
    flags = over_length(pm_dir, [chat("abcd"), chat("abcd")], ["dcba", "dcba" * 10], max_length=20)
    assert flags == [False, True]
    assert over_length(None, [chat("abcd")], ["x" * 1000], max_length=1) == [False]  # the oracle reads no tokens


def test_ties_count_half_and_non_finite_margins_count_as_wrong():
    assert [outcome(m) for m in (0.3, 0.0, -0.1, math.nan, math.inf)] == [1.0, 0.5, 0.0, 0.0, 0.0]
    assert accuracy([1.0, 0.0, -1.0, 0.0]) == 0.5


def test_madeup_benchmark_labels_agree_with_the_oracle():
    spec = WorldSpec()
    rows = madeup_benchmark(spec, rows_per_subset=30, seed=1)
    subsets = {s for v in MADEUP_SECTIONS.values() for s in v}
    assert {r["subset"] for r in rows} == subsets and len(rows) == 30 * len(subsets)
    for r in rows:
        q = r["prompt"][0]["content"]
        assert oracle_reward(q, r["chosen"]) > oracle_reward(q, r["rejected"])
    assert all(len(r["rejected"]) > len(r["chosen"]) for r in rows if r["subset"] == "length-trap")
    assert all(r["rejected"] == "" for r in rows if r["subset"] == "empty-reply")
    margins = pair_margins("oracle", None, [r["prompt"] for r in rows], [r["chosen"] for r in rows], [r["rejected"] for r in rows], 8, 64)
    result = summarise([r["subset"] for r in rows], [outcome(m) for m in margins])
    assert result["benchmark"] == "madeup-rewardbench" and result["score"] == 1.0
    assert set(result["sections"]) == {"Chat", "Chat Hard", "Safety", "Reasoning"}


def test_rewardbench_weighting_matches_the_benchmark():
    counts = {"alpacaeval-easy": 100, "alpacaeval-length": 95, "alpacaeval-hard": 95, "mt-bench-easy": 28, "mt-bench-med": 40,
              "math-prm": 447, **{f"hep-{x}": 164 for x in ("cpp", "go", "java", "js", "python", "rust")}}
    weights = subset_weights(counts, REWARDBENCH_SECTIONS, REWARDBENCH_BALANCED)
    assert weights["math-prm"] == 984 and weights["hep-go"] == 164 and weights["mt-bench-easy"] == 28  # rewardbench/constants.py
    subsets, outcomes = [], []
    for s, n in counts.items():
        right = n if s == "math-prm" else 0  # math all right, code all wrong: Reasoning = 1/2 exactly
        subsets += [s] * n
        outcomes += [1.0] * right + [0.0] * (n - right)
    subsets += ["alien"] * 3
    outcomes += [1.0] * 3
    result = summarise(subsets, outcomes)
    assert result["benchmark"] == "rewardbench"
    assert result["sections"]["Reasoning"]["accuracy"] == pytest.approx(0.5)
    assert result["sections"]["Chat"]["accuracy"] == 0.0 and set(result["sections"]) == {"Chat", "Reasoning"}
    assert result["sections"]["Chat"]["missing_subsets"] == []
    assert result["unmapped_subsets"] == ["alien"] and result["score"] == pytest.approx(0.25)
    assert "| **Reasoning** | | 1431 | | **0.500** |" in markdown_table(result, "bt")


def test_benchmark_rows_name_the_bad_line():
    good = {"id": 1, "subset": "hep-go", "prompt": "hi", "chosen": "a", "rejected": "b"}
    assert benchmark_rows([Record("f.parquet:1", good)])[0]["prompt"] == [{"role": "user", "content": "hi"}]
    with pytest.raises(ValueError, match=r"f.parquet:2: missing column\(s\) \['rejected'\]"):
        benchmark_rows([Record("f.parquet:1", good), Record("f.parquet:2", {**good, "rejected": None})])
    with pytest.raises(ValueError, match="f.jsonl:3: invalid JSON"):
        benchmark_rows([Malformed("f.jsonl:3", "invalid JSON: x", "")])


def test_length_correlation_per_prompt(tmp_path):
    assert pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert pearson([3, 3, 3], [0.1, 0.2, 0.3]) is None and pearson([1, 2], [0.5, 0.5]) is None
    assert pearson([1, 2], [0.5, math.nan]) is None
    rows = [{"prompt_id": "a", "response": r, "reward": w} for r, w in (("x", 0.1), ("xx", 0.2), ("xxx", 0.3))]
    rows += [{"prompt_id": "b", "response": r, "reward": w} for r, w in (("yyyy", 0.3), ("yyyyy", 0.2), ("yyyyyy", 0.1))]
    rows += [{"prompt_id": "c", "response": r, "reward": w} for r, w in (("zz", 0.3), ("zz", 0.2))]
    s = length_summary(rows, groups=2)
    assert (s["prompts"], s["defined"], s["undefined"]) == (3, 2, 1)
    assert s["mean_r"] == pytest.approx(0.0)
    assert [g["prompts"] for g in s["groups"]] == [1, 2]  # shortest (a: 2 chars) first; c (2) and b (5) after
    assert s["groups"][1]["r"] == [pytest.approx(-1.0), None]
    plot_heatmap(s, "bt", str(tmp_path / "h.png"))
    assert (tmp_path / "h.png").read_bytes()[:4] == b"\x89PNG"
    json.dumps(s)


@pytest.fixture
def default(root):
    return load_config(root / "config" / "config.yaml")


def test_judge_options_are_checked(default):
    c = copy.deepcopy(default)
    del c["preference_model"]
    c["online"]["scoring"]["judge"] = "preference_model"
    with pytest.raises(ConfigError, match="'preference_model' needs a preference_model section"):
        validate_config(c)
    c = copy.deepcopy(default)
    c["preference_model"]["name"] = c["reward_model"]["name"]
    c["preference_model"]["mixture"] = "mix9"
    with pytest.raises(ConfigError) as err:
        validate_config(c)
    assert "preference_model.mixture: 'mix9' is not defined" in str(err.value) and "is also reward_model.name" in str(err.value)
    for key in ("evaluation", "selection"):  # pivot scores are not comparable across policies
        c = copy.deepcopy(default)
        c[key]["judge"] = "preference_model"
        with pytest.raises(ConfigError, match=rf"{key}\.judge: 'preference_model' is not allowed"):
            validate_config(c)
    c = copy.deepcopy(default)
    c["reward_bench"] = {"source": "hub", "repo": "allenai/reward-bench"}
    with pytest.raises(ConfigError, match="'revision' is a required property"):
        validate_config(c)
    c = copy.deepcopy(default)
    c["online"]["scoring"]["judge"] = "preference_model"
    validate_config(c)


def test_judge_studies_are_planned(tmp_path, root):
    import yaml

    from .test_dag import job_counts

    counts = job_counts()
    assert counts["train_preference_model"] == counts["evaluate_preference_model"] == 1
    assert counts["reward_bench"] == 2  # bt and pm
    assert counts["length_bias"] == counts["length_bias_score"] == 3  # bt, pm and the oracle (made-up world)
    assert counts["length_bias_samples"] == counts["compare_judges"] == 1
    paper = job_counts("--configfile", "config/paper.yaml")
    assert paper["prefetch_reward_bench"] == 1 and paper["length_bias"] == 2 and paper["reward_bench"] == 2
    # An external trained RM replaces training: adopted into the RM's folder, everything downstream unchanged.
    config = yaml.safe_load((root / "config" / "config.yaml").read_text())
    config["models"]["reward"] = {"source": "local", "path": str(tmp_path / "released-rm")}
    (tmp_path / "released-rm").mkdir()
    overlay = tmp_path / "external.yaml"
    overlay.write_text(yaml.safe_dump(config))
    external = job_counts("--configfile", str(overlay))
    assert external["adopt_reward_model"] == 1 and "train_reward_model" not in external
    assert external["reward_bench"] == 2 and external["train_dpo"] == 3


def test_an_external_reward_model_is_adopted_with_a_pad_token(tmp_path):
    import subprocess
    import sys

    from transformers import AutoModelForSequenceClassification

    from online_rlhf.judges.scoring import score_with_reward_model
    from online_rlhf.train.models import build_base_model, build_tokenizer, load_reward_model

    from .conftest import ROOT

    tok = build_tokenizer(["abcdefgh"])
    base = tmp_path / "base"
    build_base_model(tok, ARCH, seed=0).save_pretrained(base)
    tok.save_pretrained(base)
    released = tmp_path / "released"
    external = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1)
    external.config.pad_token_id = None  # a released RM without one: adoption writes it into its own config only
    external.save_pretrained(released)
    tok.save_pretrained(released)
    before = {p.name: p.read_bytes() for p in released.iterdir()}
    out = tmp_path / "adopted"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "adopt_reward_model.py"), "--model", str(released), "--output", str(out)], check=True)
    assert load_reward_model(out).config.pad_token_id == tok.pad_token_id
    assert {p.name: p.read_bytes() for p in released.iterdir()} == before  # the source folder is left as it was
    assert (out / "model.safetensors").stat().st_ino == (released / "model.safetensors").stat().st_ino
    assert len(score_with_reward_model(str(out), [chat("abcd")], ["dcba"], 4, 64)) == 1
    bad = subprocess.run([sys.executable, str(ROOT / "scripts" / "adopt_reward_model.py"), "--model", str(base), "--output", str(tmp_path / "x")],
                         capture_output=True, text=True, check=False)
    assert bad.returncode != 0 and "not a scalar reward model" in bad.stderr


def test_reward_scores_match_the_tokenizers_left_truncation_and_count_what_over_length_counts(tmp_path):
    # One render and encode per conversation: the reward of each (one longer than max_length among them) equals what
    # the tokenizer's own left truncation gives, and the token counts are over_length's.
    import torch
    from transformers import AutoModelForSequenceClassification

    from online_rlhf.judges.scoring import reward_model_scores
    from online_rlhf.train.models import build_base_model, build_tokenizer, load_tokenizer

    tok = build_tokenizer(["abcdefgh"])
    rm = tmp_path / "rm"
    build_base_model(tok, ARCH, seed=0).save_pretrained(rm)
    tok.save_pretrained(rm)
    model = AutoModelForSequenceClassification.from_pretrained(rm, num_labels=1)
    model.config.pad_token_id = tok.pad_token_id
    model.save_pretrained(rm)
    prompts = [chat("abcd"), chat("ab"), chat("abcdefg")]
    responses = ["dcba", "ba" * 20, "g"]
    max_length = 24
    scores, counts = reward_model_scores(str(rm), prompts, responses, batch_size=2, max_length=max_length)
    assert [n > max_length for n in counts] == over_length(str(rm), prompts, responses, max_length) == [False, True, False]
    t = load_tokenizer(rm, training=False)
    t.truncation_side = "left"
    texts = [t.apply_chat_template(p + [{"role": "assistant", "content": r}], tokenize=False) for p, r in zip(prompts, responses)]
    with torch.no_grad():
        for text, score in zip(texts, scores):
            enc = t([text], return_tensors="pt", truncation=True, max_length=max_length, add_special_tokens=False)
            assert model(**enc).logits[0, 0].item() == pytest.approx(score, abs=1e-5)
