"""Issue #10: poissonfp installs as a package that carries its cases, and its command line starts light.

The full non-editable install into a fresh virtual environment runs in ``.ci/run`` (it takes a minute);
here the wheel's contents, the import graph of the command line and the entry point are checked.
"""
import os
import shutil
import subprocess
import sys
import types
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "numba", "sympy", "scipy", "matplotlib", "sklearn", "pyamg")


def python(code: str, cwd: Path | None = None) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=cwd).stdout


@pytest.mark.parametrize("args", [["--help"], ["solve", "--help"], ["compare", "--help"], ["bench", "--help"],
                                  ["diagnose", "--help"], ["cases"]])
def test_command_line_help_imports_no_heavy_module(args):
    code = ("import sys; from poissonfp.cli import main\n"
            f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
            f"print('LOADED', sorted(m for m in {HEAVY!r} if m in sys.modules))")
    assert python(code).splitlines()[-1] == "LOADED []"


def test_importing_the_package_and_its_cli_does_not_import_torch():
    assert python("import poissonfp.cli, sys; print('torch' in sys.modules)").strip() == "False"
    assert python("import poissonfp, sys; poissonfp.load_case; print('torch' in sys.modules)").strip() == "False"


def test_python_dash_m_lists_the_shipped_cases_from_any_folder(tmp_path):
    listing = subprocess.run([sys.executable, "-m", "poissonfp", "cases"], capture_output=True, text=True,
                             check=True, cwd=tmp_path).stdout
    names = [line.split()[0] for line in listing.splitlines()]
    assert names == sorted(p.stem for p in (ROOT / "cases").glob("*.toml"))
    assert all(len(line.split(None, 1)) == 2 for line in listing.splitlines())  # each with a description


def test_ctrl_c_while_modules_load_is_one_line_and_exit_130(monkeypatch, capsys):
    from poissonfp.__main__ import run

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setitem(sys.modules, "poissonfp.cli", types.SimpleNamespace(main=interrupted))
    _interrupts_at(monkeypatch, guards=1)  # a command had entered its signal guard: it may have written
    with pytest.raises(SystemExit) as caught:
        run()
    assert caught.value.code == 130 and capsys.readouterr().err == "interrupted\n"
    _interrupts_at(monkeypatch, guards=0)  # none had: the line says nothing was written
    with pytest.raises(SystemExit) as caught:
        run()
    assert caught.value.code == 130
    assert capsys.readouterr().err == "interrupted before the command started: nothing written\n"


def _interrupts_at(monkeypatch, guards: int) -> None:
    """How many signal guards the process has entered: the entry point's line depends on it (the count is
    process-wide, so without this the line would depend on which tests ran before)."""
    import poissonfp.interrupts

    monkeypatch.setattr(poissonfp.interrupts, "guards_entered", guards)


def test_the_wheel_carries_the_cases_folder(tmp_path):
    source = tmp_path / "source"  # a copy: the build leaves nothing in the work tree
    shutil.copytree(ROOT, source, symlinks=True, ignore=shutil.ignore_patterns(
        ".*", "build", "dist", "results", "*.egg-info", "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(tmp_path),
                    str(source)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("poissonfp-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    shipped = sorted(name.rsplit("/", 1)[1] for name in names if name.startswith("poissonfp/cases/"))
    assert shipped == sorted(p.name for p in (ROOT / "cases").glob("*.toml"))
    assert "poissonfp/__main__.py" in names
    _readme_api_block_runs_from_the_wheel(wheel, tmp_path)


def _readme_api_block_runs_from_the_wheel(wheel, tmp_path):
    """The README's first Python API block, run from an empty folder with the wheel's package (not the
    source tree): ``load_case("cases/2d_square.toml")`` falls back to the shipped case."""
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Python API", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    block = block.replace("size=127", "size=31") + f"\nimport poissonfp\nassert poissonfp.__file__.startswith({str(site)!r})\n"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, "-c", block], cwd=elsewhere, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def test_ctrl_c_inside_a_command_is_one_line_and_exit_130(monkeypatch):
    from click.testing import CliRunner

    import poissonfp.catalog
    from poissonfp.cli import main

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(poissonfp.catalog, "shipped_cases", interrupted)
    result = CliRunner().invoke(main, ["cases"])
    assert result.exit_code == 130 and result.output == "interrupted\n"


def test_a_ctrl_c_that_python_wrapped_in_another_error_still_exits_130(monkeypatch, capsys):
    """A KeyboardInterrupt raised while a dataclass is created (importing poissonfp.settings) reaches the
    top as RuntimeError("Error calling __set_name__ ..."): seen in the 20-signal test under load."""
    from poissonfp.__main__ import run

    def wrapped(*args, **kwargs):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as interrupt:
            raise RuntimeError("Error calling __set_name__ on 'Field' instance") from interrupt

    monkeypatch.setitem(sys.modules, "poissonfp.cli", types.SimpleNamespace(main=wrapped))
    _interrupts_at(monkeypatch, guards=1)
    with pytest.raises(SystemExit) as caught:
        run()
    assert caught.value.code == 130 and capsys.readouterr().err == "interrupted\n"
