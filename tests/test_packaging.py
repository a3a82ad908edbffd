"""The set-up files agree with each other: pyproject, conda environment, Binder, README, CI."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: conda-forge names that differ from PyPI names.
CONDA_TO_PYPI = {"redis-py": "redis"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {_name(req): req.replace(" ", "").lower() for req in project["dependencies"]}


def _environment_requirements(path: Path) -> dict[str, str]:
    """Dependencies of a conda environment file, conda and pip sections alike (no YAML library needed)."""
    found = {}
    text = path.read_text()
    for line in text[text.index("dependencies:"):].splitlines():
        match = re.match(r"^\s*-\s+([A-Za-z0-9][^#\s]*)\s*(#.*)?$", line)
        if not match or match[1] in ("pip", "pip:") or match[1].startswith(("python", "-e", ".")):
            continue
        requirement = match[1]
        name = _name(requirement)
        name = CONDA_TO_PYPI.get(name, name)
        found[name] = (name + requirement[len(_name(requirement)):]).lower()
    return found


def test_test_tools_are_an_extra_and_not_installed_for_learners():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {_name(requirement) for requirement in project["dependencies"]}
    test_extra = {_name(requirement) for requirement in project["optional-dependencies"]["test"]}
    assert {"playwright", "pytest-timeout", "pytest-xdist", "pytest"} <= test_extra
    assert not {"playwright", "pytest-timeout", "pytest-xdist"} & runtime
    assert "nbval" in runtime  # learners validate notebooks with it (it brings pytest)
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"pip install .*-e '\.\[test\]'", makefile) and re.search(r"^test: \$\(TEST_STAMP\)", makefile, re.M)


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    assert _environment_requirements(ROOT / "environment.yml") == _pyproject_requirements()


def test_binder_environment_lists_the_same_dependencies_as_pyproject():
    assert _environment_requirements(ROOT / "binder" / "environment.yml") == _pyproject_requirements()


def test_binder_installs_labkit_and_opens_the_welcome_notebook():
    post_build = (ROOT / "binder" / "postBuild").read_text()
    assert "pip install" in post_build and "-e ." in post_build
    assert (ROOT / "binder" / "postBuild").stat().st_mode & 0o111
    readme = (ROOT / "README.md").read_text()
    badge = re.search(r"\[!\[Binder\]\(https://mybinder.org/badge_logo.svg\)\]\((https://mybinder.org/v2/gh/[^)]+)\)", readme)
    assert badge and badge[1].endswith("urlpath=lab/tree/notebooks/00_welcome.ipynb")
    assert (ROOT / "notebooks" / "00_welcome.ipynb").exists()


def test_readme_gives_exactly_two_setup_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## Two commands.*?```bash\n(.*?)```", readme, re.S)
    commands = [line.split("#")[0].strip() for line in block[1].splitlines() if line.strip()]
    assert commands == ["make lab", "make test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci and "set -euo pipefail" in ci


def test_make_targets_create_the_venv_and_run_every_kind_of_test():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^lab:.*\n\t.*jupyter lab .*notebooks/00_welcome.ipynb", makefile, re.M)
    test_recipe = re.search(r"^test:.*\n\t(.*)", makefile, re.M)[1]
    assert "pytest" in test_recipe and "--nbval" in test_recipe and "tests" in test_recipe and "notebooks" in test_recipe
    assert "-m venv" in makefile and "pip install" in makefile


def test_every_top_level_folder_exists():
    for name in ("notebooks", "labkit", "data", "tests", "binder", "benchmarks"):
        assert (ROOT / name).is_dir(), name
