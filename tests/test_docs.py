"""Docs that cannot drift: README.md, CHANGELOG.md and docs/*.md checked against the tree.

Each check is a function that returns the problems it found (empty: none), run once on the real
documents and once on a small broken document, so that every check is shown to fail when it should.

- every relative link resolves to a file or folder, and every ``#anchor`` to a heading of its page
  (GitHub's slugs: lowercase, punctuation dropped, spaces to ``-``, ``-1``, ``-2`` for repeats);
- every ``make X`` named in code is a Makefile target, and every ``python -m MODULE`` or
  ``python FILE.py`` a module of this project (or an installed one) or a file of it;
- every ``--option`` named for ``python -m neural_style`` is in its ``--help``, and every option of
  ``--help`` is documented in a table of docs/command-line.md;
- every figure in the README's headline table is the one in the data file (``docs/bench/*.json``)
  that its row cites, for the machine the row names.
"""

import functools
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
COMMAND_LINE_PAGE = ROOT / "docs" / "command-line.md"
HEADLINE_SECTION = "Headline figures"

FENCE = re.compile(r"^```.*?^```[ \t]*$", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`((?:[^`\n]|\n(?!\s*\n))+)`")  # a span may run over a line break, not a paragraph
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
MODULE_COMMAND = re.compile(r"-m[ \t]+([A-Za-z_][\w.]*)")
MAKE_COMMAND = re.compile(r"(?:^|[;&|]\s*)make[ \t]+([A-Za-z][\w-]*)", re.MULTILINE)
MAKE_TARGET = re.compile(r"^([A-Za-z][\w-]*)[ \t]*:(?!=)", re.MULTILINE)
PYTHON_COMMAND = re.compile(r"python3?[ \t]+(?:-m[ \t]+([A-Za-z_][\w.]*)|([\w./-]+\.py)\b)")
NUMBER = re.compile(r"\d+(?:\.\d+)?")


def code_blocks(text):
    """The fenced code blocks of a Markdown text, each with its ``\\``-continued lines joined."""
    return [re.sub(r"\\\n\s*", " ", block) for block in FENCE.findall(text)]


def prose(text):
    """A Markdown text without its fenced code blocks and inline code spans (where links are not links)."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def code_spans(text):
    """The inline code spans of a Markdown text, outside its fenced blocks, each on one line."""
    return [" ".join(span.split()) for span in CODE_SPAN.findall(FENCE.sub("", text))]


def slug(heading):
    """GitHub's anchor for a heading: the text of its links kept, lowercased, every character that is
    not a letter, digit, underscore, space or hyphen dropped, spaces turned into hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(text):
    """The anchors of a page's headings, repeats numbered as GitHub numbers them."""
    seen = {}
    found = set()
    for heading in HEADING.findall(FENCE.sub("", text)):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def broken_links(page):
    """``page``'s relative links whose file or folder is missing, or whose ``#anchor`` names no heading
    of the page it points to."""
    problems = []
    for target in LINK.findall(prose(page.read_text())):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...: not ours to check
            continue
        path_part, _, anchor = target.partition("#")
        path = (page.parent / path_part).resolve() if path_part else page
        if not path.exists():
            problems.append(f"{page.name}: {target}: no {path_part}")
        elif anchor and (path.suffix != ".md" or anchor not in anchors(path.read_text())):
            problems.append(f"{page.name}: {target}: no heading #{anchor} in {path.name}")
    return problems


def makefile_targets(makefile):
    return set(MAKE_TARGET.findall(makefile.read_text())) - {"PHONY"}


def unknown_make_targets(page, targets):
    """The ``make X`` named in ``page``'s code (blocks, and spans that start with ``make``) where X is
    not one of ``targets``."""
    text = page.read_text()
    named = [name for block in code_blocks(text) for name in MAKE_COMMAND.findall(block)]
    named += [name for span in code_spans(text) for name in MAKE_COMMAND.findall(span)]
    return [f"{page.name}: make {name}" for name in named if name not in targets]


def missing_commands(page, root):
    """The ``python -m MODULE`` and ``python FILE.py`` named in ``page``'s code that do not exist: a module
    of a package or module of ``root`` must be its file (``a/b.py``, ``a/b/__main__.py``), found without
    importing it (the engine's would import TensorFlow); any other must be installed; a file must be in
    ``root``."""
    text = page.read_text()
    problems = []
    for module, script in PYTHON_COMMAND.findall("\n".join(code_blocks(text) + code_spans(text))):
        if script and not (root / script).is_file():
            problems.append(f"{page.name}: python {script}")
        elif module:
            path = root.joinpath(*module.split("."))
            top = root / module.split(".")[0]
            if top.is_dir() or top.with_suffix(".py").is_file():  # ours: by its file, importing nothing
                found = path.with_suffix(".py").is_file() or (path / "__main__.py").is_file()
            else:
                found = importlib.util.find_spec(module) is not None
            if not found:
                problems.append(f"{page.name}: python -m {module}")
    return problems


def command_options(page):
    """``(module, option)`` for every option after ``-m MODULE`` on a command line of ``page``'s code
    (a line of a code block, or a code span)."""
    text = page.read_text()
    pairs = []
    for command in [line for block in code_blocks(text) for line in block.splitlines()] + code_spans(text):
        match = MODULE_COMMAND.search(command)
        if match:
            pairs += [(match.group(1), option) for option in OPTION.findall(command[match.end() :])]
    return pairs


def is_ours(module):
    top = ROOT / module.split(".")[0]
    return top.is_dir() or top.with_suffix(".py").is_file()


def engine_options_named(page):
    """The options ``page`` names for ``python -m neural_style``: on its command lines, every option of
    the command line page, and, in the README, code spans that are an option."""
    text = page.read_text()
    named = [option for module, option in command_options(page) if module == "neural_style"]
    if page == COMMAND_LINE_PAGE:
        named += OPTION.findall(text)
    if page.name == "README.md":
        named += [OPTION.match(span).group() for span in code_spans(text) if OPTION.match(span)]
    return named


def undocumented_options(page_text, help_options):
    """The options of ``--help`` that no table row of the command line page names in its first cell."""
    documented = {
        option for row in re.findall(r"^\|([^|\n]*)\|", page_text, re.MULTILINE) for option in OPTION.findall(row)
    }
    return sorted(set(help_options) - documented)


def headline_rows(readme_text):
    """The README's headline table as lists of cells, header and separator left out."""
    section = re.search(rf"^## {HEADLINE_SECTION}\n(.*?)(?=^## )", readme_text, re.MULTILINE | re.DOTALL)
    if section is None:
        return []
    lines = [line for line in section.group(1).splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


def headline_mismatches(readme):
    """Each headline row's figures (the numbers of its "measured" cell, in order) against the data file
    its last cell links to: its ``headline`` figures, and its ``machine`` against the row's CPU."""
    problems = []
    rows = headline_rows(readme.read_text())
    if not rows:
        return [f"{readme.name}: no table under '## {HEADLINE_SECTION}'"]
    for figure, measured, machine, source in rows:
        links = LINK.findall(source)
        if len(links) != 1 or not links[0].endswith(".json"):
            problems.append(f"{figure}: cites no data file ({source})")
            continue
        data_path = readme.parent / links[0]
        if not data_path.is_file():
            problems.append(f"{figure}: no {links[0]}")
            continue
        data = json.loads(data_path.read_text())
        missing = {"machine", "date", "command", "figures", "headline"} - set(data)
        if missing:
            problems.append(f"{links[0]}: lacks {sorted(missing)}")
            continue
        expected = [data["figures"][name] for name in data["headline"]]
        quoted = [float(number) for number in NUMBER.findall(measured)]
        if quoted != [float(value) for value in expected]:
            problems.append(f"{figure}: the README says {quoted}, {links[0]} {expected}")
        if machine != data["machine"]:
            problems.append(f"{figure}: the README says {machine!r}, {links[0]} {data['machine']!r}")
    return problems


@functools.cache
def options_in_help(module):
    """The options that ``python -m MODULE --help`` lists (a subprocess: the engine's imports TensorFlow)."""
    result = subprocess.run(
        [sys.executable, "-m", module, "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": "250"},
    )
    options = set(re.findall(r"^ +(?:-\w, )?(--[a-z][a-z0-9-]*)", result.stdout, re.MULTILINE))
    assert "--help" in options, result.stdout
    return options


@pytest.fixture(scope="module")
def help_options():
    """The options of ``python -m neural_style --help``."""
    options = options_in_help("neural_style")
    assert "--content" in options
    return options


def test_the_documents_exist():
    names = {page.relative_to(ROOT).as_posix() for page in DOCUMENTS}
    assert {"README.md", "docs/instructor.md", "docs/grading.md", "docs/command-line.md"} <= names
    assert {"docs/benchmarks.md", "CHANGELOG.md"} <= names


@pytest.mark.parametrize("page", DOCUMENTS, ids=lambda page: page.name)
def test_links_and_anchors_resolve(page):
    assert broken_links(page) == []


@pytest.mark.parametrize("page", DOCUMENTS, ids=lambda page: page.name)
def test_make_targets_exist(page):
    assert unknown_make_targets(page, makefile_targets(ROOT / "Makefile")) == []


@pytest.mark.parametrize("page", DOCUMENTS, ids=lambda page: page.name)
def test_python_commands_exist(page):
    assert missing_commands(page, ROOT) == []


def test_options_named_are_in_help(help_options):
    named = {f"{page.name}: {option}" for page in DOCUMENTS for option in engine_options_named(page)}
    assert named, "no option of python -m neural_style found in the docs"
    assert sorted(entry for entry in named if entry.split(": ")[1] not in help_options) == []


def test_options_named_for_our_other_commands_are_in_their_help():
    named = {pair for page in DOCUMENTS for pair in command_options(page) if pair[0] != "neural_style"}
    modules = sorted({module for module, _ in named if is_ours(module)})
    assert "nst_grader.grade" in modules, modules
    unknown = [
        f"python -m {module} {option}"
        for module in modules
        for option in sorted(option for named_module, option in named if named_module == module)
        if option not in options_in_help(module)
    ]
    assert unknown == []


def test_every_help_option_is_documented(help_options):
    assert undocumented_options(COMMAND_LINE_PAGE.read_text(), help_options) == []


def test_headline_figures_match_their_data():
    assert len(headline_rows((ROOT / "README.md").read_text())) >= 5
    assert headline_mismatches(ROOT / "README.md") == []


# The checks above, shown to fail on broken documents.


def test_a_missing_file_or_heading_is_reported(tmp_path):
    (tmp_path / "other.md").write_text("# Grading on a cluster (Dask)\n\n## Limits\n\n## Limits\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Top\n[ok](other.md#grading-on-a-cluster-dask) [ok](other.md#limits-1) [ok](#top) [web](https://x.org/a)\n"
        "[gone](missing.md) [bad anchor](other.md#grading-on-a-cluster) [bad](#nowhere)\n"
        "`[not a link](missing.md)`\n```\n[in code](missing.md)\n```\n"
    )
    assert broken_links(page) == [
        "page.md: missing.md: no missing.md",
        "page.md: other.md#grading-on-a-cluster: no heading #grading-on-a-cluster in other.md",
        "page.md: #nowhere: no heading #nowhere in page.md",
    ]


def test_an_unknown_make_target_is_reported(tmp_path):
    makefile = tmp_path / "Makefile"
    makefile.write_text(".PHONY: demo\nVAR := 1\ndemo: weights\n\techo\nweights:\n")
    page = tmp_path / "page.md"
    page.write_text("Run `make demo`, then `make bench`.\n```sh\nmake weights  # then\nmake lab\n```\n")
    assert makefile_targets(makefile) == {"demo", "weights"}
    assert unknown_make_targets(page, makefile_targets(makefile)) == ["page.md: make lab", "page.md: make bench"]


def test_a_missing_module_or_script_is_reported(tmp_path):
    (tmp_path / "tool").mkdir()
    (tmp_path / "tool" / "run.py").write_text("")
    (tmp_path / "cli").mkdir()
    (tmp_path / "cli" / "__main__.py").write_text("")
    (tmp_path / "make_it.py").write_text("")
    page = tmp_path / "page.md"
    page.write_text(
        "```sh\npython -m tool.run --x\npython -m cli\npython make_it.py\npython -m json.tool a.json\n```\n"
        "Run `python -m tool.gone`, `python3 scripts/gone.py` or `python -m no_such_module_here`.\n"
    )
    assert missing_commands(page, tmp_path) == [
        "page.md: python -m tool.gone",
        "page.md: python scripts/gone.py",
        "page.md: python -m no_such_module_here",
    ]


def test_options_are_told_apart_by_command(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "```sh\nexport X=--no  # python -m tool --a \\\n  --b\nmake x ARGS=--c\n```\n"
        "`.venv/bin/python -m other.cmd [--d N]`\n"
    )
    assert command_options(page) == [("tool", "--a"), ("tool", "--b"), ("other.cmd", "--d")]


def test_options_named_for_the_engine_are_found(tmp_path):
    page = tmp_path / "README.md"
    page.write_text(
        "```sh\npython -m neural_style --content a.jpg \\\n    --colour x\n"
        "python -m nst_grader.grade --workers 2\n```\n"
        "`python -m neural_style.quality --score p` and `--resume`; `GRADE_ARGS=--force`.\n"
    )
    assert sorted(engine_options_named(page)) == ["--colour", "--content", "--resume"]


def test_an_undocumented_help_option_is_reported():
    page = "| option | meaning |\n|---|---|\n| `--size WxH` | size; unlike `--levels` |\n\nSee `--steps`.\n"
    assert undocumented_options(page, {"--size", "--levels", "--steps"}) == ["--levels", "--steps"]


def test_a_headline_figure_that_differs_from_its_data_is_reported(tmp_path):
    (tmp_path / "bench").mkdir()
    data = {"machine": "CPU A", "date": "2026-11-30", "command": "make bench", "figures": {"s": 250, "gb": 3.73}}
    (tmp_path / "bench" / "run.json").write_text(json.dumps({**data, "headline": ["s", "gb"]}))
    readme = tmp_path / "README.md"
    table = "| figure | measured | CPU | data |\n|---|---|---|---|\n"
    row = "| big | 250 s; 3.73 GB | CPU A | [d](bench/run.json) |"
    readme.write_text(f"## {HEADLINE_SECTION}\n\n{table}{row}\n## Next\n")
    assert headline_mismatches(readme) == []
    readme.write_text(
        f"## {HEADLINE_SECTION}\n\n{table}| big | 250 s; 3.74 GB | CPU B | [d](bench/run.json) |\n"
        "| small | 1 s | CPU A | none |\n## Next\n"
    )
    assert headline_mismatches(readme) == [
        "big: the README says [250.0, 3.74], bench/run.json [250, 3.73]",
        "big: the README says 'CPU B', bench/run.json 'CPU A'",
        "small: cites no data file (none)",
    ]
