import gzip
import json

import pytest

from online_rlhf.core.records import Malformed, find_files, read_records
from online_rlhf.data.sources import PAIR_ADAPTERS, convert_messages, convert_pairs, convert_prompts
from online_rlhf.world.datasets import synthesise
from online_rlhf.world.task import WorldSpec

from .conftest import shared_data


def write_lines(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return [path]


def test_hh_multi_turn_context_stays_a_list_of_messages(tmp_path):
    row = {
        "chosen": "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: abc\n\nAssistant: cba",
        "rejected": "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: abc\n\nAssistant: abc",
    }
    out = convert_pairs(read_records(write_lines(tmp_path / "a.jsonl", [json.dumps(row)])), "hh_rlhf", "hh")
    (pair,) = out.rows
    assert pair["prompt"] == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "abc"},
    ]
    assert (pair["chosen"], pair["rejected"]) == ("cba", "abc")


def test_malformed_rows_are_reported_with_file_and_line(tmp_path):
    good = json.dumps({"chosen": "\n\nHuman: a\n\nAssistant: b", "rejected": "\n\nHuman: a\n\nAssistant: c"})
    lines = [
        good,
        "{not json",
        json.dumps({"chosen": "\n\nHuman: a\n\nAssistant: b"}),  # missing field
        json.dumps({"chosen": 3, "rejected": "x"}),  # wrong type
        json.dumps({"chosen": "\n\nAssistant: b", "rejected": "\n\nAssistant: c"}),  # starts with assistant
        json.dumps({"chosen": "\n\nHuman: a\n\nAssistant: ", "rejected": "\n\nHuman: a\n\nAssistant: c"}),  # empty reply
        json.dumps({"chosen": "\n\nHuman: a\n\nAssistant: b", "rejected": "\n\nHuman: z\n\nAssistant: c"}),
        good,  # exact duplicate
    ]
    files = write_lines(tmp_path / "raw.jsonl", lines)
    out = convert_pairs(read_records(files), "hh_rlhf", "hh")
    assert len(out.rows) == 1 and out.rows_in == 8
    reasons = {d["origin"].rsplit(":", 1)[1]: d["reason"] for d in out.drop_rows}
    assert reasons == {
        "2": "malformed_json",
        "3": "missing_field",
        "4": "wrong_type",
        "5": "broken_role_order",
        "6": "empty_turn",
        "7": "context_mismatch",
        "8": "duplicate",
    }
    assert all(d["origin"].startswith(str(files[0])) for d in out.drop_rows)
    assert out.summary()["dropped"]["malformed_json"] == 1


def test_ultrafeedback_keeps_all_pairs_except_equal_scores():
    row = {
        "instruction": "abcd",
        "completions": [
            {"response": "dcba", "fine-grained_score": 5.0},
            {"response": "abcd", "fine-grained_score": 1.0},
            {"response": "dcbb", "fine-grained_score": 4.0},
            {"response": "dcaa", "fine-grained_score": 4.0},
        ],
    }
    from online_rlhf.core.records import Record

    out = convert_pairs([Record("f:1", row)], "ultrafeedback", "uf")
    assert len(out.rows) == 5  # 6 pairs, one tie
    assert [d["reason"] for d in out.drop_rows] == ["equal_scores"]
    assert all(r["chosen_score"] > r["rejected_score"] for r in out.rows)
    out = convert_pairs([Record("f:1", row)], "ultrafeedback", "uf", {"min_margin": 2.0})
    assert len(out.rows) == 3


def test_shp_score_ratio_label_check_and_per_post_cap():
    from online_rlhf.core.records import Record

    def row(i, sa, sb, label):
        return Record(f"f:{i}", {"post_id": "p", "history": "abcd", "human_ref_A": f"a{i}", "human_ref_B": f"b{i}", "score_A": sa, "score_B": sb, "labels": label})

    recs = [row(1, 10, 2, 1), row(2, 3, 2, 1), row(3, 2, 10, 1)] + [row(10 + i, 30 + i, 1, 1) for i in range(6)]
    out = convert_pairs(recs, "shp", "shp")
    reasons = sorted(d["reason"] for d in out.drop_rows)
    assert reasons == ["label_contradicts_scores", "per_prompt_cap", "per_prompt_cap", "small_score_ratio"]
    assert len(out.rows) == 5


def test_nectar_best_vs_worst():
    from online_rlhf.core.records import Record

    row = {"prompt": "\n\nHuman: abcd\n\nAssistant: ", "answers": [{"answer": "x", "rank": 3}, {"answer": "dcba", "rank": 1}, {"answer": "y", "rank": 2}]}
    (pair,) = convert_pairs([Record("f:1", row)], "nectar", "nectar").rows
    assert (pair["chosen"], pair["rejected"]) == ("dcba", "x")


def test_unknown_adapter_option_is_an_error():
    with pytest.raises(ValueError, match="no option"):
        convert_pairs([], "shp", "shp", {"min_ratio": 2})


def test_every_synthetic_format_converts_with_every_row_accounted_for(tmp_path):
    spec = WorldSpec()
    for fmt in PAIR_ADAPTERS:
        path = tmp_path / f"{fmt}.jsonl"
        rows = synthesise(fmt, spec, 200, 5)
        write_lines(path, [json.dumps(r) for r in rows])
        out = convert_pairs(read_records([path]), fmt, fmt)  # checks rows in = kept + dropped itself
        assert out.rows_in == len(rows) and out.rows
    path = tmp_path / "m.jsonl"
    write_lines(path, [json.dumps(r) for r in synthesise("messages", spec, 50, 1)] + [json.dumps({"messages": [{"role": "assistant", "content": "x"}]})])
    out = convert_messages(read_records([path]), "sft")
    assert len(out.rows) == 50 and out.drop_rows[0]["reason"] == "broken_role_order"
    path = tmp_path / "p.jsonl"
    write_lines(path, [json.dumps({"context_messages": "abcd"}), json.dumps({"context_messages": "abcd"}), json.dumps({"other": 1})])
    out = convert_prompts(read_records([path]), "pool")
    assert len(out.rows) == 1 and sorted(d["reason"] for d in out.drop_rows) == ["duplicate", "missing_field"]


def test_json_array_and_json_lines_with_json_suffix(tmp_path):
    (tmp_path / "arr.json").write_text(json.dumps([{"instruction": "a"}, {"instruction": "b"}]))
    (tmp_path / "lines.json").write_text('{"instruction": "c"}\n{"instruction": "d"}\n')
    recs = list(read_records(find_files(tmp_path, "*.json")))
    assert [r.data["instruction"] for r in recs] == ["a", "b", "c", "d"]
    with gzip.open(tmp_path / "x.jsonl.gz", "wt") as fh:
        fh.write('{"a": 1}\n[1]\n')
    recs = list(read_records([tmp_path / "x.jsonl.gz"]))
    assert isinstance(recs[1], Malformed) and recs[1].origin.endswith(":2")


def test_missing_files_name_the_folder_and_pattern(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no data files matching '\*\.parquet'"):
        find_files(tmp_path, "*.parquet")


def test_real_hh_rlhf_sample_converts_with_no_row_unaccounted_for():
    path = shared_data("hh-rlhf", "harmless-base-test.jsonl.gz")
    out = convert_pairs(read_records([path]), "hh_rlhf", "hh_rlhf")
    assert out.rows_in == 2312
    kept_rows = len({r["origin"] for r in out.rows})
    whole = len({d["origin"] for d in out.drop_rows if d["whole_row"]})
    assert kept_rows + whole == 2312
    assert kept_rows == len(out.rows) == 2299
    assert out.summary()["dropped"] == {"broken_role_order": 9, "empty_turn": 4}
    assert all(r["prompt"][-1]["role"] == "user" and r["chosen"] != r["rejected"] for r in out.rows)
