"""The benches' outputs (``benchmarks.outputs``): their headline records, written by the bench and
published into a docs folder whose figures the README's table must quote (``test_docs``'s check)."""

import json

import pytest

from benchmarks import outputs
from test_docs import HEADLINE_SECTION, headline_mismatches

INTEL = "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Processor\nflags\t\t: fpu avx512_bf16 amx_bf16 amx_tile\n"
AMD = "processor\t: 0\nmodel name\t: AMD EPYC 7B13 64-Core Processor\nflags\t\t: fpu avx2 avx512_bf16\n"


def test_the_machine_is_named_by_vendor_family_and_amx():
    assert outputs.machine_name(INTEL) == "Intel Xeon with AMX"
    assert outputs.machine_name(AMD) == "AMD EPYC"
    assert outputs.slug("AMD EPYC") == "amd-epyc"


def test_a_record_must_hold_the_figures_its_headline_names():
    with pytest.raises(outputs.RecordError, match=r"headline figures \['gb'\] are not among the figures \['s'\]"):
        outputs.headline_record("a run", "make bench", {"s": 250}, ["s", "gb"], 0.5, cpuinfo=INTEL)


def test_a_bench_writes_its_results_table_and_headline_record(tmp_path):
    record = outputs.headline_record(
        "a run", "python -m benchmarks.x (make bench)", {"s": 250, "gb": 3.73}, ["s", "gb"], 0.5, cpuinfo=AMD
    )
    assert list(record)[:7] == list(outputs.RECORD_KEYS) and record["machine"] == "AMD EPYC"
    assert record["load_average"]["before"] == 0.5 and record["cores"] >= 1
    path = outputs.write_outputs(tmp_path, "x_bench", {"all": [1, 2]}, "| table |\n", "big-picture", record)
    assert path == tmp_path / "headline" / "big-picture-amd-epyc.json"
    assert json.loads(path.read_text()) == record
    assert json.loads((tmp_path / "x_bench.json").read_text()) == {"all": [1, 2]}
    assert (tmp_path / "x_bench.md").read_text() == "| table |\n"
    assert sorted(p.name for p in tmp_path.rglob("*")) == [
        "big-picture-amd-epyc.json",
        "headline",
        "x_bench.json",
        "x_bench.md",
    ]  # no temporary file left


def test_a_published_record_is_what_the_readme_table_must_quote(tmp_path):
    record = outputs.headline_record("a run", "make bench", {"s": 251, "gb": 3.7}, ["s", "gb"], 0.5, cpuinfo=INTEL)
    written = tmp_path / "outputs" / "headline" / "big-picture-intel-xeon.json"
    written.parent.mkdir(parents=True)
    written.write_text(json.dumps(record))
    docs = tmp_path / "docs"
    (docs / "bench").mkdir(parents=True)
    assert outputs.main(["publish", str(written), "--docs", str(docs / "bench")]) == 0
    readme = docs / "README.md"
    table = "| figure | measured | CPU | data |\n|---|---|---|---|\n"
    row = "| big | {} | Intel Xeon with AMX | [d](bench/big-picture-intel-xeon.json) |\n"
    readme.write_text(f"## {HEADLINE_SECTION}\n\n{table}{row.format('251 s; 3.7 GB')}\n## Next\n")
    assert headline_mismatches(readme) == []
    readme.write_text(f"## {HEADLINE_SECTION}\n\n{table}{row.format('250 s; 3.73 GB')}\n## Next\n")
    assert headline_mismatches(readme) == [
        "big: the README says [250.0, 3.73], bench/big-picture-intel-xeon.json [251, 3.7]"
    ]


def test_publishing_checks_every_record_before_writing_any(tmp_path, capsys):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(outputs.headline_record("a", "make bench", {"s": 1}, ["s"], 0.1, cpuinfo=AMD)))
    lacking = tmp_path / "lacking.json"
    lacking.write_text(json.dumps({"machine": "AMD EPYC", "figures": {"s": 1}, "headline": ["s"]}))
    docs = tmp_path / "docs"
    docs.mkdir()
    assert outputs.main(["publish", str(good), str(lacking), "--docs", str(docs)]) == 1
    assert "lacking.json lacks ['measurement', 'cores', 'date', 'command']" in capsys.readouterr().err
    assert list(docs.iterdir()) == []
    quoting_text = tmp_path / "text.json"
    quoting_text.write_text(json.dumps({**json.loads(good.read_text()), "figures": {"s": "fast"}}))
    with pytest.raises(outputs.RecordError, match=r"its headline names \['s'\], which are not numbers"):
        outputs.publish([quoting_text], docs)
    with pytest.raises(outputs.RecordError, match="is not a folder"):
        outputs.publish([good], tmp_path / "absent")
