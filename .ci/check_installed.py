"""Fail unless every package in this environment is the version requirements.lock pins for it.

CI installs only with `-c requirements.lock`, into a new virtual environment; this
checks that the result is exactly the lock: a package the lock does not name, or
another version of one it does, would make a green run mean something else.
"""

import sys
from importlib.metadata import distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

NOT_LOCKED = {"pip", "setuptools", "wheel", "edugrad"}  # the environment's own tools, and the project


def main(lock: Path) -> int:
    pins = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith((" ", "#")):
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate():
                (spec,) = requirement.specifier
                pins[canonicalize_name(requirement.name)] = Version(spec.version)
    problems = []
    installed = sorted({canonicalize_name(d.metadata["Name"]): d.version for d in distributions()}.items())
    for name, version in installed:
        if name in NOT_LOCKED:
            continue
        if name not in pins:
            problems.append(f"{name} {version} is installed but not in {lock}")
        elif Version(Version(version).base_version) != pins[name] and Version(version) != pins[name]:
            problems.append(f"{name} {version} is installed but {lock} pins {pins[name]}")
    for problem in problems:
        print(problem)
    print(f"{len(installed)} packages installed, {len(problems)} not as locked")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "requirements.lock")))
