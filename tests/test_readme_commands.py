"""Every command line the README documents runs, at a small size (issue 17, item 5).

The command lines are read from the README itself: its fenced and indented code blocks and its inline
``poissonfp ...`` spans that carry arguments (a synopsis with placeholders such as ``CASE`` or ``[--n N]`` is
not a command line). Each runs in-process with a small grid (``--n``), one repeat and ``--out`` in a
temporary folder; :data:`SKIPPED` lists what does not run here, with the reason.
"""
import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from poissonfp.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"
#: Subcommands not run here, and why (each is exercised at small size by its own test module).
SKIPPED = {
    "diagnose": "trains every experiment's networks in 3 seeds: 57 s of CPU even with --quick (tests/test_diagnose.py and "
                "tests/test_poisson_1d.py run it with --quick --seeds 0 on fewer experiments)",
    "bench": "times every method on every problem: minutes (tests/test_bench.py runs its pieces small)",
}
PLACEHOLDER = re.compile(r"\[|\.\.\.|\b(CASE|EXPERIMENT|DIR|COMMAND|M1)\b")


def readme_command_lines(text: str) -> list[str]:
    """The distinct ``poissonfp`` command lines of the README, comments removed, in order."""
    lines = []
    in_block = False
    for raw in text.splitlines():
        if raw.startswith("```"):
            in_block = not in_block
            continue
        code = raw.strip() if in_block or raw.startswith("    ") else ""
        if code.startswith(("poissonfp ", "python -m poissonfp")):
            lines.append(code.split("  #")[0].split(" # ")[0].strip())
    for span in re.findall(r"`(poissonfp [^`]+)`", text):
        words = span.split()
        if len(words) > 2 or words[1:] == ["cases"]:
            lines.append(span.strip())
    return [line for line in dict.fromkeys(lines) if not PLACEHOLDER.search(line)]


def small(line: str, out: Path) -> list[str]:
    """The arguments of ``line`` with a small grid, one repeat and ``--out`` under ``out``."""
    words = shlex.split(line)
    words = words[3:] if words[0] == "python" else words[1:]
    if words and words[0] in ("solve", "compare"):
        case = words[1]
        size = "64" if "1d" in case else ("7" if "3d" in case else "15")
        if "--n" in words:
            words[words.index("--n") + 1] = size
        else:
            words += ["--n", size]
        if "--repeat" in words:
            words[words.index("--repeat") + 1] = "1"
        words += ["--out", str(out), "--quiet"]
    elif words and words[0] == "train":  # a tiny network on a coarse grid, a few steps
        words = _with(words, {"--n": "15", "--out": str(out), "--steps": "3", "--samples": "8", "--batch": "4"})
        words += ["--quiet"]
    return words


def _with(words: list[str], values: dict[str, str]) -> list[str]:
    """``words`` with each option of ``values`` set (replaced where present, appended where not)."""
    words = list(words)
    for option, value in values.items():
        if option in words:
            words[words.index(option) + 1] = value
        else:
            words += [option, value]
    return words


COMMANDS = readme_command_lines(README.read_text())


def test_the_readme_documents_command_lines():
    assert len(COMMANDS) >= 8 and any(c.startswith("poissonfp compare") for c in COMMANDS)
    assert not any(PLACEHOLDER.search(c) for c in COMMANDS)


@pytest.mark.parametrize("line", COMMANDS)
def test_readme_command_line_runs_at_small_size(line, tmp_path):
    args = small(line, tmp_path / "out")
    if args and args[0] in SKIPPED:
        pytest.skip(SKIPPED[args[0]])
    if "--model" in args:  # the README's model folder comes from its `poissonfp train` line: train one small
        model = tmp_path / "model"
        trained = CliRunner().invoke(main, small(f"poissonfp train {args[1]} --out x", model))
        assert trained.exit_code == 0, trained.output[-2000:]
        args = _with(args, {"--model": str(model)})
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, f"{line!r} -> {args}: {result.output[-2000:]}"
