"""requirements.lock pins the whole tool chain; it must agree with pyproject.toml and be what the README installs."""

import re
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
LOCK_COMMAND = "uv pip compile pyproject.toml --all-extras --universal --python-version 3.10 -o requirements.lock"


def locked_entries(text: str) -> list[tuple[Requirement, list[str]]]:
    """The lock's pins, each with the names its `# via` annotation gives."""
    entries = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("# This file") or line.startswith("#    uv"):
            continue
        if not line.startswith(" "):
            entries.append((Requirement(line), []))
        else:
            via = line.strip().removeprefix("#").strip().removeprefix("via").strip()
            if via:
                entries[-1][1].append(via)
    return entries


def project_requirements(pyproject: dict) -> list[Requirement]:
    """The project's dependencies and every extra's, without the extras' references to the project itself."""
    project = pyproject["project"]
    names = [project["dependencies"]] + list(project.get("optional-dependencies", {}).values())
    requirements = [Requirement(text) for group in names for text in group]
    return [r for r in requirements if canonicalize_name(r.name) != canonicalize_name(project["name"])]


def disagreements(pyproject_text: str, lock_text: str) -> list[str]:
    """What makes the lock and pyproject.toml disagree, one sentence each (empty if they agree)."""
    pyproject = tomllib.loads(pyproject_text)
    entries = locked_entries(lock_text)
    locked = {}
    for requirement, _ in entries:
        locked.setdefault(canonicalize_name(requirement.name), []).append(requirement)
    problems = []
    direct = set()
    for wanted in project_requirements(pyproject):
        name = canonicalize_name(wanted.name)
        direct.add(name)
        if name not in locked:
            problems.append(f"{wanted} is in pyproject.toml but not in requirements.lock")
            continue
        for pin in locked[name]:
            (version,) = [spec.version for spec in pin.specifier]
            if not wanted.specifier.contains(version, prereleases=True):
                problems.append(f"requirements.lock pins {pin.name}=={version}, outside pyproject.toml's {wanted}")
    for requirement, via in entries:
        name = canonicalize_name(requirement.name)
        if via and all(v.startswith("edugrad") for v in via) and name not in direct:
            problems.append(f"requirements.lock has {requirement.name} for edugrad, which pyproject.toml no longer asks for")
    if LOCK_COMMAND not in lock_text.split("\n", 3)[1]:
        problems.append(f"requirements.lock was not made by the documented command: {LOCK_COMMAND}")
    return problems


def test_lock_agrees_with_pyproject():
    problems = disagreements((ROOT / "pyproject.toml").read_text(), (ROOT / "requirements.lock").read_text())
    assert not problems, "regenerate the lock (README, 'The lock'):\n" + "\n".join(problems)


def test_an_extra_missing_from_the_lock_is_caught():
    pyproject = (ROOT / "pyproject.toml").read_text()
    lock = (ROOT / "requirements.lock").read_text()
    added = pyproject.replace('test = [\n', 'test = [\n    "rich>=13",\n', 1)
    assert added != pyproject
    assert disagreements(added, lock) == ["rich>=13 is in pyproject.toml but not in requirements.lock"]


def test_a_requirement_dropped_from_pyproject_is_caught():
    pyproject = (ROOT / "pyproject.toml").read_text()
    lock = (ROOT / "requirements.lock").read_text()
    dropped = pyproject.replace(', "playwright>=1.50"', "")
    assert dropped != pyproject
    assert disagreements(dropped, lock) == [
        "requirements.lock has playwright for edugrad, which pyproject.toml no longer asks for"
    ]


def test_a_pin_outside_the_range_is_caught():
    pyproject = (ROOT / "pyproject.toml").read_text()
    lock = (ROOT / "requirements.lock").read_text()
    narrowed = pyproject.replace('"pytest>=8"', '"pytest>=99"')
    assert narrowed != pyproject
    assert any("outside pyproject.toml's pytest>=99" in problem for problem in disagreements(narrowed, lock))


@pytest.mark.parametrize("marker", ["book-command", "test-command"])
def test_the_readme_commands_install_from_the_lock(marker):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    command = re.search(r"<!-- %s -->\s*```bash\n(.+?)\n```" % marker, readme, re.S).group(1)
    install = command.split("&&")[0]
    assert "pip install" in install and "-c requirements.lock" in install, command


def test_the_lock_is_documented_with_its_command():
    assert LOCK_COMMAND in (ROOT / "README.md").read_text(encoding="utf-8")
