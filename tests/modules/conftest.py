"""Fixtures for the analytics-module tests: throwaway distributions really installed (a package
and its .dist-info on sys.path, found by importlib.metadata like any other), and the report
tests' SMTP server."""

import sys
from collections.abc import Iterator
from pathlib import Path
from textwrap import dedent

import pytest

# The weekly report's fixtures: a real SMTP server on loopback that the app trusts.
from tests.reports.conftest import ca, ca_file, report_client, smtp, trust_ca

__all__ = ["ca", "ca_file", "report_client", "smtp", "trust_ca"]

GROUP = "plugin_analytics.modules"


class Site:
    """A directory of installed distributions, put first on sys.path by the first install().

    Install everything before the app (or load_modules) first looks: modules are loaded once
    per search path."""

    def __init__(self, path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.path, self._monkeypatch = path, monkeypatch
        self.packages: list[str] = []

    def install(self, package: str, source: str, entry_points: dict[str, str]) -> None:
        """The distribution `package` (version 1.0): the package of that name, whose
        __init__.py is `source`, registering `entry_points` (name: module:attribute)."""
        (self.path / package).mkdir(parents=True)
        (self.path / package / "__init__.py").write_text(dedent(source))
        info = self.path / f"{package}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {package.replace('_', '-')}\nVersion: 1.0\n"
        )
        lines = "".join(f"{name} = {value}\n" for name, value in entry_points.items())
        (info / "entry_points.txt").write_text(f"[{GROUP}]\n{lines}")
        if not self.packages:
            self._monkeypatch.syspath_prepend(str(self.path))
        self.packages.append(package)

    def forget(self) -> None:
        """Unimport what was installed, so that no later test sees it."""
        for package in self.packages:
            for name in [n for n in sys.modules if n == package or n.startswith(f"{package}.")]:
                del sys.modules[name]


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    installed = Site(tmp_path / "site-packages", monkeypatch)
    yield installed
    installed.forget()
