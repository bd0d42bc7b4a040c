"""Case files that are not small regular files, and the README's case path from another folder."""
import os

import pytest
from click.testing import CliRunner

from poissonfp.case import MAX_CASE_BYTES, CaseError, load_case
from poissonfp.cli import main


def _special(tmp_path, kind):
    path = tmp_path / "case.toml"
    if kind == "/dev/zero":
        path.symlink_to("/dev/zero")
    elif kind == "FIFO":
        os.mkfifo(path)
    else:
        path.write_text("# " + "x" * MAX_CASE_BYTES + "\n")
    return path


@pytest.mark.parametrize("kind", ["/dev/zero", "FIFO", "too large"])
def test_a_case_file_that_is_not_a_small_regular_file_is_refused_in_one_line(tmp_path, kind):
    """Issue 18 item 6: /dev/zero was read until the OOM killer, a FIFO hung."""
    path = _special(tmp_path, kind)
    result = CliRunner().invoke(main, ["solve", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output
    assert str(path) in result.output and not (tmp_path / "out").exists()


def test_the_readme_case_path_works_from_another_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_case("cases/2d_square.toml").name == "2d_square"
    with pytest.raises(CaseError, match="no such case file"):
        load_case("elsewhere/2d_square.toml")  # only a folder named cases falls back
