"""The readers on the shared samples of each upstream format (and synthetic DDO / Tan
et al. files where no sample could be had)."""

from __future__ import annotations

import bz2
import json
from collections import Counter
from pathlib import Path

import pytest

from persuasion_rl.data import anthropic, cmv, ddo, paper, perspectrum
from persuasion_rl.data.build import build_source
from persuasion_rl.data.claims import ORIGIN_TITLE, claim_id


def test_perspectrum_has_907_claims_in_the_upstream_split(perspectrum_dir: Path) -> None:
    claims = perspectrum.read_perspectrum(perspectrum_dir)
    assert len(claims) == 907
    assert Counter(c.split for c in claims) == {"train": 541, "dev": 139, "test": 227}
    assert Counter(c.website for c in claims) == {"idebate": 518, "debatewise": 342, "procon": 47}
    first = claims[0]
    assert first.cid == 499 and first.text == "Vaccination must be made compulsory"
    assert first.topics == ("health_and_medicine",)
    assert first.perspectives[0].stance_label_3 == "SUPPORT"
    assert first.perspectives[0].texts, "perspective texts come from the pool file"


def test_perspectrum_claims_table_keeps_split_and_topics(perspectrum_dir: Path) -> None:
    records = build_source("perspectrum", perspectrum_dir).claims
    assert Counter(r.split for r in records) == {"train": 541, "dev": 139, "test": 227}
    assert records[0].id == claim_id("perspectrum", "499")
    assert records[0].topic == "health_and_medicine"
    assert len({r.id for r in records}) == 907


def test_perspectrum_accepts_the_claims_file_path(perspectrum_dir: Path) -> None:
    claims = perspectrum.read_perspectrum(perspectrum_dir / perspectrum.CLAIMS_FILE)
    assert len(claims) == 907


def test_paper_parquet_has_2617_train_and_290_test_rows(paper_dir: Path) -> None:
    rows = paper.read_paper(paper_dir)
    assert Counter(r.split for r in rows) == {"train": 2617, "test": 290}
    result = build_source("paper", paper_dir)
    assert Counter(r.split for r in result.claims) == {"train": 2617, "test": 290}
    assert len(result.priors) == 2907
    assert {p.claim_id for p in result.priors} == {r.id for r in result.claims}
    row = rows[0]
    assert row.prompt[0]["role"] == "system" and row.initial_belief.startswith("<score>")


def test_paper_claims_are_kept_byte_for_byte(paper_dir: Path) -> None:
    rows = paper.read_paper(paper_dir / "train.parquet")
    claims = paper.paper_claims(rows)
    assert [c.claim for c in claims] == [r.claim for r in rows]
    assert any(c.claim != c.claim.strip() or "  " in c.claim for c in claims), "sample has untidy whitespace"


def test_anthropic_csv_gives_three_claims_with_parsed_ratings(anthropic_csv: Path) -> None:
    rows = anthropic.read_anthropic_csv(anthropic_csv)
    assert len(rows) == 207
    assert all(isinstance(r.rating_initial, int) and 1 <= r.rating_initial <= 7 for r in rows)
    assert all(r.persuasiveness_metric == r.rating_final - r.rating_initial for r in rows)
    records = anthropic.anthropic_claims(rows, provenance_file=anthropic_csv.name)
    assert {r.claim for r in records} == {
        "Cultured/lab-grown meats should be allowed to be sold",
        "Corporations should be required to disclose their climate impacts",
        "Corporations should not be required to disclose their climate impacts",
    }
    assert all(r.rating_count == 69 for r in records)
    for record in records:
        group = [r for r in rows if r.claim == record.claim]
        assert record.rating_initial == pytest.approx(sum(r.rating_initial for r in group) / 69)
        assert record.rating_final == pytest.approx(sum(r.rating_final for r in group) / 69)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("5 - Somewhat support", 5), ("1 - Strongly oppose", 1), ("4 - Neither oppose nor support", 4), ("7", 7), (6, 6)],
)
def test_parse_rating(text: object, expected: int) -> None:
    assert anthropic.parse_rating(text) == expected


@pytest.mark.parametrize("text", ["", "8 - Strongly support", "five", "5 - Strongly oppose", None, True])
def test_parse_rating_rejects(text: object) -> None:
    with pytest.raises(ValueError):
        anthropic.parse_rating(text)


def test_anthropic_statements_share_ids_with_the_csv(anthropic_csv: Path, anthropic_statements: Path) -> None:
    statements = anthropic.read_anthropic_statements(anthropic_statements)
    assert len(statements) == 75
    from_statements = {r.id for r in anthropic.statement_claims(statements, provenance_file="s.json")}
    from_csv = {r.id for r in build_source("anthropic", anthropic_csv).claims}
    assert from_csv <= from_statements


def test_cmv_xml_threads_give_claims_from_titles(cmv_xml_dir: Path) -> None:
    posts = cmv.read_cmv(cmv_xml_dir)
    assert len(posts) == 50 and all(p.layout == "xml" for p in posts)
    records = cmv.cmv_claims(posts, root=cmv_xml_dir)
    assert len(records) == len({p.key for p in posts}) == 16  # one claim per thread
    claims = {r.claim for r in records}
    assert "Religion is not violent or not violent, its followers are." in claims
    assert "Essential Oils are bullshit" in claims  # "CMV:Essential ..." without a space
    assert "The Paris shooting makes a good case for culture of responsible gun ownership any carrying." in claims
    assert not any(c.lower().startswith("cmv") for c in claims)
    record = next(r for r in records if r.claim.startswith("Religion"))
    assert record.claim_origin == ORIGIN_TITLE and not record.needs_summary
    assert record.raw_text.startswith("Title: CMV: Religion is not violent")
    assert "Hello, users of CMV" not in record.raw_text, "moderator footnote removed"
    assert record.provenance_file == "negative/0.xml"


@pytest.mark.parametrize(
    ("title", "claim"),
    [
        ("CMV: Taxes are theft", "Taxes are theft"),
        ("[CMV] taxes are theft", "Taxes are theft"),
        ("cmv - taxes are theft", "Taxes are theft"),
        ("(CMV) Taxes are theft", "Taxes are theft"),
        ("CMV: I believe that taxes are theft", "Taxes are theft"),
        ("CMV: I really think   taxes  are theft", "Taxes are theft"),
        ("CMV: Cats &amp; dogs should be licensed", "Cats & dogs should be licensed"),
        ("Taxes are theft", "Taxes are theft"),
        ("CMVs are fun", "CMVs are fun"),
    ],
)
def test_claim_from_title(title: str, claim: str) -> None:
    assert cmv.claim_from_title(title) == claim


def test_cmv_tomap_jsonl_uses_pos_and_keeps_its_split(cmv_tomap_jsonl: Path) -> None:
    posts = cmv.read_cmv(cmv_tomap_jsonl)
    assert len(posts) == 200 and all(p.layout == "tomap" for p in posts)
    records = cmv.cmv_claims(posts)
    assert len(records) == 200 and all(r.split == "test" for r in records)
    assert records[0].claim == "The position of Vice President of the United States should be eliminated from the government."


def test_cmv_folder_reads_both_layouts(cmv_dir: Path) -> None:
    records = build_source("cmv", cmv_dir).claims
    assert len(records) == 216
    assert {r.provenance_file.split("/")[0] for r in records} == {"change-my-view-modes", "tomap_debate_cmv"}


def _tan_files(folder: Path) -> None:
    """A few lines in the three layouts of Tan et al.'s cmv.tar.bz2 (op_task, pair_task, all)."""
    op = [
        {"title": "CMV: Homework should be optional.", "selftext": "Long post.\n_____\n\n&gt; *Hello, users of CMV! rules", "name": "t3_aaa", "delta_label": True},
        {"title": "CMV: Cities should ban cars.", "selftext": "Another &amp; post", "name": "t3_bbb", "delta_label": False},
    ]
    pair = [
        {"op_title": "CMV: Cities should ban cars.", "op_text": "x", "op_name": "t3_bbb", "op_author": "u", "positive": {}, "negative": {}},
        {"op_title": "CMV: Zoos are cruel", "op_text": "y", "op_name": "t3_ccc", "op_author": "u", "positive": {}, "negative": {}},
    ]
    everything = [
        {"title": "[Mod Post] New rules", "selftext": "...", "name": "t3_mod", "id": "mod", "comments": []},
        {"title": "CMV: Space travel is a waste", "selftext": "z", "name": "t3_ddd", "id": "ddd", "comments": []},
    ]
    (folder / "op_task").mkdir()
    (folder / "pair_task").mkdir()
    (folder / "all").mkdir()
    (folder / "op_task/train_op_data.jsonlist").write_text("\n".join(json.dumps(x) for x in op) + "\n")
    (folder / "pair_task/heldout_pair_data.jsonlist.bz2").write_bytes(bz2.compress("\n".join(json.dumps(x) for x in pair).encode()))
    (folder / "all/train_period_data.jsonlist").write_text("\n".join(json.dumps(x) for x in everything) + "\n")


def test_cmv_tan_layouts(tmp_path: Path) -> None:
    _tan_files(tmp_path)
    posts = cmv.read_cmv(tmp_path)
    assert {p.layout for p in posts} == {"tan_op", "tan_pair", "tan_all"}
    records = {r.claim: r for r in cmv.cmv_claims(posts, root=tmp_path)}
    assert set(records) == {"Homework should be optional.", "Cities should ban cars.", "Zoos are cruel", "Space travel is a waste"}
    assert records["Homework should be optional."].split == "train"  # train_* file
    assert records["Zoos are cruel"].split == "test"  # heldout_* file
    # the same thread (t3_bbb) in op_task and pair_task is one claim with one id
    assert records["Cities should ban cars."].id == claim_id("cmv", "bbb")
    assert records["Homework should be optional."].raw_text == "Title: CMV: Homework should be optional.\nContent: Long post."
    assert records["Cities should ban cars."].raw_text.endswith("Another & post")


def write_ddo(path: Path, debates: dict | None = None) -> Path:
    """A small debates.json following ../shared/data/ddo_NOTE.md (synthetic content)."""
    if debates is None:
        debates = {
            "Abortion/1/": {
                "title": "Abortion", "category": "Politics", "url": "https://www.debate.org/debates/Abortion/1/",
                "rounds": [
                    [{"side": "Con", "text": "I accept."}, {"side": "Pro", "text": "Abortion should be legal because..."}],
                    [{"side": "Pro", "text": "Rebuttal."}, {"side": "Con", "text": "Counter."}],
                ],
                "participant_1_name": "a", "participant_1_position": "Pro",
                "participant_2_name": "b", "participant_2_position": "Con",
                "votes": [{"votes_map": {"a": {"Agreed with before the debate": True}}}], "comments": [],
                "forfeit_label": False, "number_of_rounds": 2, "number_of_votes": 1, "number_of_comments": 0,
            },
            "God-exists/2/": {"title": "God exists", "category": "Religion", "rounds": [[{"side": "Con", "text": "No."}]]},
            "Forfeited/3/": {"title": "Cats are better than dogs", "category": "Society", "rounds": []},
        }
    path.write_text(json.dumps(debates), encoding="utf-8")
    return path


def test_ddo_synthetic_debates(tmp_path: Path) -> None:
    path = write_ddo(tmp_path / "debates.json")
    debates = ddo.read_ddo(path)
    assert [d.key for d in debates] == ["Abortion/1/", "God-exists/2/", "Forfeited/3/"]
    records = build_source("ddo", tmp_path).claims
    assert all(r.needs_summary and r.source == "ddo" for r in records)
    assert records[0].claim == "Abortion" and records[0].topic == "Politics"
    assert records[0].raw_text == "Title: Abortion\nContent: Abortion should be legal because..."
    assert records[1].raw_text == "Title: God exists\nContent: No."  # no Pro argument: the first one
    assert records[2].raw_text == "Title: Cats are better than dogs\nContent: "
    assert records[0].id == claim_id("ddo", "Abortion/1/")
