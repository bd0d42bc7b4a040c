"""load_result on damaged sets: every damage raises ResultError, never another exception (issue 18 item 3:
31 of 54 corrupted sets gave an exception other than the documented one)."""
import json
import random
import shutil

import pytest

from poissonfp.case import case_from_text
from poissonfp.loading import ResultError, load_result
from poissonfp.outputs import save_solve_outputs
from poissonfp.problem import build_problem
from poissonfp.solvers import StoppingCriterion, solve

CASE = ('[domain]\nlower = [-1.0, -1.0]\nupper = [1.0, 1.0]\ninside = "max(-x, y)"\n[grid]\npoints = 9\n'
        '[problem]\nexact = "x*x - y*y + x"\nsource = "0"\n')
#: Damaged copies made per kind (seeded).
COPIES = 60
VALUES = [None, True, 0, -1, 1e308, "x", "", [], {}, [1, 2], {"a": 1}, [[]], 10**30, [None], ["1"]]


@pytest.fixture(scope="module")
def good_set(tmp_path_factory):
    folder = tmp_path_factory.mktemp("set") / "set"
    case = case_from_text(CASE, "l.toml")
    problem = build_problem(case)
    save_solve_outputs(folder, case, problem, solve(problem, "direct", StoppingCriterion("discretization")),
                       figures=False)
    load_result(folder)  # the undamaged set reads back
    return folder


def _damage_npz(raw: bytes, chooser: random.Random) -> bytes:
    damaged = bytearray(raw)
    for _ in range(chooser.randint(1, 20)):
        damaged[chooser.randrange(len(damaged))] = chooser.randrange(256)
    return bytes(damaged[:chooser.randrange(len(damaged))]) if chooser.random() < 0.3 else bytes(damaged)


def _damage_json(record: dict, chooser: random.Random) -> str:
    record = json.loads(json.dumps(record))
    key = chooser.choice([*record, "info", "modes", "history"])
    if isinstance(record.get(key), dict) and record[key] and chooser.random() < 0.5:
        record[key][chooser.choice(list(record[key]))] = chooser.choice(VALUES)
    else:
        record[key] = chooser.choice(VALUES)
    text = json.dumps(record)
    if chooser.random() < 0.3:  # a broken byte of the text too
        at = chooser.randrange(len(text))
        text = text[:at] + chooser.choice(["", "}", "\x00", "9e999", "[", '"']) + text[at + 1:]
    return text


@pytest.mark.parametrize("kind", ["solution.npz", "result.json"])
def test_every_damaged_copy_raises_result_error(good_set, tmp_path, kind):
    """Bytes of solution.npz overwritten or cut (a zlib.error and a tokenize error escaped before), values
    of result.json replaced by others of the wrong type, its text broken."""
    chooser = random.Random(18)
    record = json.loads((good_set / "result.json").read_text())
    raw = (good_set / "solution.npz").read_bytes()
    others = []
    for index in range(COPIES):
        folder = tmp_path / str(index)
        shutil.copytree(good_set, folder)
        if kind == "solution.npz":
            (folder / kind).write_bytes(_damage_npz(raw, chooser))
        else:
            (folder / kind).write_text(_damage_json(record, chooser))
        try:
            load_result(folder)
        except ResultError as error:
            assert str(error).count("\n") == 0, error
        except Exception as error:  # what the test looks for
            others.append(f"{index}: {type(error).__name__}: {error}")
    assert not others, "\n".join(others)
