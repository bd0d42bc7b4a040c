"""A fuzz corpus of bad inputs (generated case texts and command-line flags), run in-process through
click's CliRunner: each must end in one line on stderr and exit status 2, with no traceback, nothing
written, and within a few seconds (an alarm turns a hang into a failure)."""
import signal

import pytest
from click.testing import CliRunner

from poissonfp.cli import main

GOOD = {
    "name": '"fuzz"', "seed": "0",
    "domain.lower": "[0.0, 0.0]", "domain.upper": "[1.0, 1.0]",
    "grid.points": "7",
    "problem.exact": '"sin(pi*x)*sin(pi*y)"',
    "solver.method": '"dst"',
}

BAD_VALUES = {
    "name": ['""', '"../up"', '"a/b"', "3", "true", '"' + "n" * 200 + '"', "[1]", '"\\u0000"'],
    "seed": ["-1", '"0"', "1.5", "true", "99999999999999999999999", "nan", "[0]"],
    "domain.lower": ["[0.0]", "[0.0, 0.0, 0.0, 0.0]", '["a", 0]', "[nan, 0.0]", "[inf, 0.0]", "0.0", "[]",
                     "[1e400, 0]", "[1.0, 1.0]", "[true, false]"],
    "domain.upper": ["[0.0, 0.0]", "[-1.0, 1.0]", "[1.0]", '"1"', "[1e308, 1e308]", "[1.0, nan]",
                     "[1.0, 1e-300]"],
    "domain.inside": ['"x > 0"', '"import os"', '"-1"', "3", '"__import__(\'os\')"', '"sin("', '""',
                      '"x.real"', '"q"'],
    "grid.points": ["0", "-5", "1.5", '"7"', "[7]", "[7, 7, 7]", "1000000000", "true", "[0, 7]", "[]"],
    "problem.exact": ['""', '"x +"', '"exp(1000*x)"', '"1/x"', '"log(x)"', '"sqrt(-1-x)"', '"os.system(1)"',
                      '"__import__(\'os\')"', '"x if y else 1"', '"[x]"', '"lambda: 1"', '"z"', '"x @ y"',
                      '"10**10**10"', '"' + "(" * 300 + "x" + ")" * 300 + '"', "3", '"f(x)"', '"x.y"',
                      '"\'str\'"', '"1e999*x"', '"tan(pi*x)"', '"x; y"', '"x ** y ** x ** y ** 100"',
                      '"exp(exp(exp(exp(exp(x)))))"', '"nan"', '"inf*x"', '"1/(x-0.5)"', '"x//y"', '"x%y"',
                      '"not x"', '"x < y"', '"{x}"', '"*x"', '"x[0]"', '"sin(x, y)"', '"atan2(x)"', '"max(x)"',
                      '"abs()"'],
    "problem.source": ['"sin(x)"', '"x+"', '"1/y"', "[1]", '"0*"'],
    "problem.boundary": ['"x*y + 7"', '"1/(x*y)"', '"log(x)"', '"q"'],
    "problem.coefficient": ['"-1"', '"0"', '"x - 0.5"', '"1/x"', '"log(x)"', "2", '"sin(x)"'],
    "solver.method": ['"nope"', "3", '""', '"JACOBI "', "true"],
    "solver.criterion": ['"nope"', "1", '"residue"'],
    "solver.tol": ["0", "-1", '"1e-8"', "nan", "inf", "true", "1e-400"],
    "solver.max_iterations": ["0", "-1", "1.5", '"10"', "1e30"],
    "solver.omega": ["0", "2.5", "-1", '"1"', "nan"],
    "network.widths": ["[]", "[0]", "[-1]", '"128"', "[1.5]", "[128, 0]"],
    "network.scale": ["-1", "0", '"3"', "nan"],
    "network.device": ['"gpu"', "1", '"cuda:99"'],
    "training.adam_steps": ["-1", "1.5", '"100"', "1e12"],
    "training.learning_rate": ["0", "-1", '"1e-3"', "inf"],
    "hybrid.switch": ["-1", '"sometimes"', "1.5", "[1]", "true"],
    "hybrid.coarse": ['"nope"', "3"],
    "boundary.left.type": ['"robin"', "3", '""'],
    "boundary.front.type": ['"neumann"'],
    "bogus.key": ["1"],
    "domain.bogus": ["1"],
    "problem.bogus": ['"x"'],
}

SYNTAX = ["", "[domain", "lower = = 1", "name = 'a'\nname = 'b'", "\x00", "[[domain]]\nlower=[0.0]",
          "a = 1\n[a]\nb = 2", "x = [1, 2", "= 1", "[domain]\nlower = [0.0,]]", "\ufeff[domain]", "a.b.c.d.e = 1",
          "[" * 1000, "name = \"\"\"", "key = 0x", "t = 1979-05-27T07:32:00Z"]


def _text(entries):
    tables, top = {}, []
    for key, value in entries.items():
        if value is None:
            continue
        if "." in key:
            table, name = key.rsplit(".", 1)
            tables.setdefault(table, []).append(f"{name} = {value}")
        else:
            top.append(f"{key} = {value}")
    return "\n".join(top + [f"[{t}]\n" + "\n".join(lines) for t, lines in tables.items()]) + "\n"


#: formulas that are not allowed anywhere a formula goes (injection, syntax, unknown names, non-finite values)
BAD_FORMULAS = ['""', '"x +"', '"os.system(1)"', '"__import__(\'os\')"', '"x if y else 1"', '"[x]"', '"lambda: 1"',
                '"z"', '"x @ y"', '"10**10**10"', '"' + "(" * 300 + "x" + ")" * 300 + '"', "3", '"f(x)"', '"x.y"',
                '"\'str\'"', '"1e999*x"', '"x; y"', '"nan"', '"inf*x"', '"x//y"', '"x%y"', '"not x"', '"x < y"',
                '"{x}"', '"*x"', '"x[0]"', '"sin(x, y)"', '"atan2(x)"', '"max(x)"', '"abs()"', '"open(x)"',
                '"eval(x)"', '"exec(x)"', '"globals()"', '"().__class__"', '"x.__class__"', '"[].pop"', '"b\'x\'"',
                '"x ** y ** x ** y ** 100"', '"1/(x - x)"', '"log(0*x)"', '"sqrt(-1 - x*x)"', '"x = 1"',
                '"yield x"', '"await x"', '"x if x"', '"{1: x}"', '"(x, y)"', '"x...y"', '"0x1g"', '"1__0"']


def _case_texts():
    texts = [(f"{key}={value}", _text({**GOOD, key: value})) for key in
             ("problem.exact", "problem.source", "problem.boundary", "problem.coefficient", "domain.inside")
             for value in BAD_FORMULAS]
    texts += [(f"{key}={value}", _text({**GOOD, key: value})) for key, values in BAD_VALUES.items() for value in values]
    texts += [(f"without {key}", _text({**GOOD, key: None})) for key in ("domain.lower", "domain.upper", "grid.points",
                                                                           "problem.exact")]
    texts += [(f"syntax {i}", text) for i, text in enumerate(SYNTAX)]
    return texts


CASE_TEXTS = _case_texts()

FLAGS = [["--method", m] for m in ("nope", "", "JACOBI", "dst,direct")] + \
    [["--n", v] for v in ("0", "-3", "x", "1.5", "10000000000", "")] + \
    [["--tol", v] for v in ("0", "-1", "nan", "inf", "x", "1e-400")] + \
    [["--criterion", v] for v in ("nope", "", "residue")] + \
    [["--switch", v] for v in ("-1", "x", "1.5", "", "auto,3")] + \
    [["--seed", v] for v in ("-1", "x", "99999999999999999999999")] + \
    [["--device", v] for v in ("gpu", "", "cuda:7")] + \
    [["--coarse", v] for v in ("nope", "")] + \
    [["--format", v] for v in ("png", "")] + \
    [["--bogus"], ["--n"], ["--strict", "x"], ["--method", "dst", "--method"]]


def _alarm(_number, _frame):
    raise TimeoutError("hung")


@pytest.fixture(autouse=True)
def _no_hang():
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def _assert_refused(result, out):
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1, result.output
    assert not out.exists()


@pytest.mark.parametrize("name,text", CASE_TEXTS, ids=[name for name, _ in CASE_TEXTS])
def test_a_bad_case_text_is_one_line_and_exit_2(tmp_path, name, text):
    path = tmp_path / "fuzz.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    out = tmp_path / "out"
    _assert_refused(CliRunner().invoke(main, ["solve", str(path), "--out", str(out)]), out)


@pytest.mark.parametrize("flags", FLAGS, ids=[" ".join(f) or "empty" for f in FLAGS])
def test_a_bad_flag_is_one_line_and_exit_2(tmp_path, flags):
    path = tmp_path / "fuzz.toml"
    path.write_text(_text(GOOD))
    out = tmp_path / "out"
    _assert_refused(CliRunner().invoke(main, ["solve", str(path), "--out", str(out), *flags]), out)


def test_the_corpus_is_large_enough():
    assert len(CASE_TEXTS) + len(FLAGS) >= 300


@pytest.mark.parametrize("index", [0, 1, 2])
def test_a_few_bad_inputs_in_a_real_process(tmp_path, index):
    """The console script itself: stderr is one line, stdout empty, exit 2, nothing written."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    path = tmp_path / "fuzz.toml"
    if index == 0:
        os.mkfifo(path)
        extra = []
    else:
        path.write_text(_text({**GOOD, "grid.points": "-1"}) if index == 1 else _text(GOOD))
        extra = ["--tol", "nan"] if index == 2 else []
    out = tmp_path / "out"
    command = [str(Path(sys.executable).with_name("poissonfp")), "solve", str(path), "--out", str(out), *extra]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stdout == "" and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not out.exists()
