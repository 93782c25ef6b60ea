"""One exception root: every exception class of shared/, services/ and tripwire/ derives from TripwireError, and the
tree drawn in shared/errors.py's docstring is exactly the classes' tree (so the drawing cannot drift)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import httpx

import shared.errors
from shared.errors import TripwireError, one_line

PACKAGES = ("shared", "services", "tripwire")


def project_exceptions() -> dict[str, type[BaseException]]:
    """Every exception class defined in a module of the project's packages, by ``module.Name``."""
    found: dict[str, type[BaseException]] = {}
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        for info in pkgutil.walk_packages(package.__path__, f"{package_name}."):
            if info.name.endswith("__main__"):
                continue  # `python -m tripwire` runs the command when imported
            module = importlib.import_module(info.name)
            for name, value in vars(module).items():
                if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == info.name:
                    found[f"{info.name}.{name}"] = value
    return found


def drawn_tree() -> dict[str, tuple[str, str | None]]:
    """``Name -> (module, parent name)`` from the docstring's drawing."""
    doc = shared.errors.__doc__ or ""
    tree: dict[str, tuple[str, str | None]] = {}
    parents: list[str] = []
    for line in doc.splitlines():
        match = re.match(r"^    ([│├└─ ]*)(\w+)(?: \.+ ([\w.]+))?", line)
        if not match or not (match.group(1) or match.group(2) == "TripwireError"):
            continue
        depth = len(match.group(1)) // 4
        name = match.group(2)
        parents = [*parents[:depth], name]
        tree[name] = (match.group(3).rstrip(":") if match.group(3) else "shared.errors", parents[-2] if depth else None)
    return tree


def test_every_project_exception_derives_from_the_root():
    exceptions = project_exceptions()
    assert len(exceptions) >= 20  # the walk found the classes (ConfigError, OutboundRefused, HubError, ...)
    outside = sorted(name for name, cls in exceptions.items() if not issubclass(cls, TripwireError))
    assert outside == []


def test_the_drawing_is_the_tree():
    tree = drawn_tree()
    exceptions = project_exceptions()
    by_name = {cls.__name__: (name.rsplit(".", 1)[0], cls) for name, cls in exceptions.items()}
    assert set(tree) == set(by_name), "shared/errors.py's drawing and the classes differ"
    for name, (module, parent) in tree.items():
        where, cls = by_name[name]
        assert where == module, f"{name} is drawn in {module} but defined in {where}"
        project_bases = [base.__name__ for base in cls.__bases__ if issubclass(base, TripwireError)]
        drawn = [parent] if parent else []
        assert project_bases == drawn, f"{name} derives from {project_bases}, drawn under {parent}"


def test_second_bases_that_callers_rely_on_are_kept():
    from services.classifier.embedder import ModelError
    from shared.config.expand import MissingVariable
    from shared.outbound import OutboundRefused
    from shared.schemas.versioning import SchemaError

    assert issubclass(OutboundRefused, httpx.TransportError)  # httpx callers see it; network-only retries skip it
    assert not issubclass(OutboundRefused, httpx.NetworkError | httpx.TimeoutException)
    assert issubclass(ModelError, RuntimeError)
    assert issubclass(SchemaError, ValueError) and issubclass(MissingVariable, ValueError)


def test_one_line_joins_a_multi_line_message():
    assert one_line(TripwireError("a.yaml: x: bad\na.yaml: y: bad\n")) == "a.yaml: x: bad; a.yaml: y: bad"
    assert one_line(TripwireError()) == "TripwireError"


def test_the_errors_module_imports_nothing():
    source = inspect.getsource(shared.errors)
    assert re.findall(r"^(?:import|from) (\S+)", source, re.M) == ["__future__"]
