"""What every bench writes, and how its headline figures reach ``docs/bench/``.

Each bench writes, atomically (a reader or a killed run never sees half a file), into its output folder:

* ``NAME.json``: every result of the run;
* ``NAME.md``: its tables;
* ``headline/MEASUREMENT-MACHINE.json``: its headline record, the schema of ``docs/bench/*.json`` (what
  was measured, on which machine and how many cores, the date, the command, the figures, and which of
  them the README's headline table quotes), with the load average before and after the run.

``python -m benchmarks.outputs publish outputs/headline/FILE.json ...`` (``make bench-publish``) checks
records and copies them into ``docs/bench/`` under the same names, so that no figure is typed by hand.
Publish a record of times only from a run on an otherwise idle machine (its ``load_average`` says how
busy the machine was); scores, counts, memory peaks and ratios within one run bear load.
"""

import argparse
import datetime
import json
import os
import re
import sys
from pathlib import Path

from atomic_files import atomic_path
from neural_style.machine import cpu_flags, cpu_model

ROOT = Path(__file__).resolve().parents[1]
DOCS_BENCH = ROOT / "docs" / "bench"
HEADLINE_FOLDER = "headline"
AMX = " with AMX"
RECORD_KEYS = ("measurement", "machine", "cores", "date", "command", "figures", "headline")
"""The keys every headline record has, in this order (``tests/test_docs.py`` reads them)."""


class RecordError(ValueError):
    """A headline record that lacks a key, or quotes a figure it does not hold."""


def machine_name(cpuinfo: str | None = None) -> str:
    """The CPU as the headline table names it: its vendor and family from the model name, trademarks
    and model numbers left out ("Intel Xeon", "AMD EPYC"), and "with AMX" where the CPU has AMX tiles,
    since they make its bfloat16 steps 3 to 4 times as fast. ``cpuinfo``: ``/proc/cpuinfo``'s text
    (None: this machine's)."""
    words = re.sub(r"\((R|TM|tm)\)", " ", cpu_model(cpuinfo)).split()
    name = " ".join(words[:2]) if words else "unknown CPU"
    return f"{name}{AMX}" if "amx_tile" in cpu_flags(cpuinfo) else name


def slug(text: str) -> str:
    """``text`` as a file name's part: lower case, words joined by hyphens ("AMD EPYC" -> "amd-epyc")."""
    return "-".join(re.findall(r"[a-z0-9]+", text.lower()))


def headline_record(measurement, command, figures, headline, load_before, note=None, cpuinfo=None):
    """A headline record of this machine, dated today (UTC). ``figures``: ``{name: number}``, rounded
    as they are to be quoted; ``headline``: the names the README quotes, in its order; ``load_before``:
    the 1-minute load average when the run started (the one after it is read now)."""
    missing = [name for name in headline if name not in figures]
    if missing:
        raise RecordError(f"headline figures {missing} are not among the figures {sorted(figures)}")
    record = {
        "measurement": measurement,
        "machine": machine_name(cpuinfo),
        "cores": os.cpu_count(),
        "date": datetime.datetime.now(datetime.UTC).date().isoformat(),
        "command": command,
        "figures": figures,
        "headline": list(headline),
        "load_average": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
    }
    return {**record, "note": note} if note else record


def write_outputs(out: Path, name: str, results: dict, table: str, kind: str, record: dict) -> Path:
    """Write ``out/NAME.json`` (``results``), ``out/NAME.md`` (``table``) and the headline ``record``
    as ``out/headline/KIND-MACHINE.json``, each atomically. Returns the record's path."""
    record_path = out / HEADLINE_FOLDER / f"{kind}-{slug(record['machine'].removesuffix(AMX))}.json"
    record_path.parent.mkdir(parents=True, exist_ok=True)
    for path, text in (
        (out / f"{name}.json", json.dumps(results, indent=2)),
        (out / f"{name}.md", table),
        (record_path, json.dumps(record, indent=2) + "\n"),
    ):
        with atomic_path(path) as tmp:
            tmp.write_text(text)
    return record_path


def check_record(record: dict, source: str = "the record") -> None:
    """Raise ``RecordError`` unless ``record`` has every key of ``RECORD_KEYS`` and holds, as numbers,
    the figures its ``headline`` names."""
    missing = [key for key in RECORD_KEYS if key not in record]
    if missing:
        raise RecordError(f"{source} lacks {missing}")
    absent = [name for name in record["headline"] if not isinstance(record["figures"].get(name), int | float)]
    if absent:
        raise RecordError(f"{source}: its headline names {absent}, which are not numbers among its figures")


def publish(paths, docs=DOCS_BENCH):
    """Check each headline record in ``paths`` and write it into ``docs`` under its own name. Checks
    them all before writing any. Returns the written paths."""
    if not Path(docs).is_dir():
        raise RecordError(f"{docs} is not a folder: publish into the docs/bench/ of a checkout")
    records = {}
    for path in paths:
        try:
            record = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise RecordError(f"{path}: not a readable JSON record ({error})") from error
        check_record(record, str(path))
        records[Path(docs) / Path(path).name] = record
    for target, record in records.items():
        with atomic_path(target) as tmp:
            tmp.write_text(json.dumps(record, indent=2) + "\n")
    return list(records)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Publish benches' headline records into docs/bench/.")
    commands = parser.add_subparsers(dest="command", required=True)
    publishing = commands.add_parser("publish", help="copy headline records into docs/bench/, checked")
    publishing.add_argument("records", type=Path, nargs="+", help="outputs/headline/*.json files")
    publishing.add_argument("--docs", type=Path, default=DOCS_BENCH, help="where to (default docs/bench/)")
    args = parser.parse_args(argv)
    try:
        written = publish(args.records, args.docs)
    except RecordError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for path in written:
        print(f"published {path}")
    print("Quote their headline figures in README.md's table (tests/test_docs.py checks it).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
