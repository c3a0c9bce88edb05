"""`plugin-analytics sites`: the same sites and refusals as /sites, as an operator sees them:
a clear message and exit code 1 (refused) or 2 (bad usage), never a traceback."""

from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import Engine
from typer.testing import CliRunner, Result

from plugin_analytics import cli
from plugin_analytics.config import load_settings
from plugin_analytics.sites import cli as sites_cli
from plugin_analytics.sites.registry import Site, find_site
from tests.conftest import OperatorEnv
from tests.sites.helpers import fill, site_num, site_rows

runner = CliRunner()
Sites = Callable[..., Result]


@pytest.fixture
def sites(
    database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, operator_env: OperatorEnv
) -> Sites:
    """Run `plugin-analytics sites ...` on the test's database."""
    monkeypatch.chdir(tmp_path)  # away from any developer's .env
    for module in (cli, sites_cli):  # as when output is not a terminal
        monkeypatch.setattr(module, "console", Console(width=200))
    operator_env(DATABASE_URL=database_url)
    return lambda *args: runner.invoke(cli.app, ["sites", *args])


def stored(engine: Engine, site_id: str) -> Site | None:
    with engine.connect() as connection:
        return find_site(connection, site_id, load_settings(_env_file=None))


def succeeded(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


def refused(result: Result, code: int, *words: str) -> None:
    """Exit `code` with a message holding `words`, and no traceback."""
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    for word in words:
        assert word in result.output, (word, result.output)


SHOP = (
    "create", "shop-example", "--name", "Shop [bold]Example[/bold]",
    "--timezone", "Europe/Paris", "--domain", "https://Shop.Example/",
    "--domain", "http://localhost:8080", "--recipients", "owner@shop.example, team@shop.example",
    "--schedule", "30 7 * * 1", "--retention-days", "90",
)  # fmt: skip


def test_create_stores_every_option(sites: Sites, engine: Engine) -> None:
    assert "Created the site shop-example" in succeeded(sites(*SHOP))
    site = stored(engine, "shop-example")
    assert site is not None
    assert (site.name, site.timezone, site.retention_days) == (
        "Shop [bold]Example[/bold]",
        "Europe/Paris",
        90,
    )
    assert site.domains == ("https://shop.example", "http://localhost:8080")
    assert site.report_recipients == ("owner@shop.example", "team@shop.example")
    assert site.report_schedule == "30 7 * * 1"


def test_list_shows_default_first_and_names_as_written(
    sites: Sites, operator_env: OperatorEnv
) -> None:
    succeeded(sites(*SHOP))
    succeeded(sites("create", "blog", "--name", "Blog"))
    listed = succeeded(sites("list"))
    assert listed.index("default") < listed.index("blog") < listed.index("shop-example")
    assert "Shop [bold]Example[/bold]" in listed  # not taken for markup
    for shown in ("Europe/Paris", "https://shop.example", "owner@shop.example", "90 days"):
        assert shown in listed
    assert listed.count("forever") == 2
    operator_env(RETENTION_DAYS="400")
    listed = succeeded(sites("list"))
    assert (listed.count("400 days"), listed.count("90 days")) == (2, 1)


def test_update_changes_the_options_given(sites: Sites, engine: Engine) -> None:
    succeeded(sites(*SHOP))
    changed = sites("update", "shop-example", "--name", "Shop", "--domain", "https://new.example")
    assert "name" in succeeded(changed)
    site = stored(engine, "shop-example")
    assert site is not None
    assert (site.name, site.domains, site.timezone) == (
        "Shop",
        ("https://new.example",),
        "Europe/Paris",
    )
    resets = ("--reset", "timezone", "--reset", "domains", "--reset", "retention-days")
    succeeded(sites("update", "shop-example", *resets))
    site = stored(engine, "shop-example")
    assert site is not None
    assert (site.timezone, site.domains, site.retention_days) == ("UTC", (), None)


def test_a_site_is_deleted_only_when_confirmed(sites: Sites, engine: Engine) -> None:
    succeeded(sites(*SHOP))
    num = site_num(engine, "shop-example")
    filled = fill(engine, num, "shop")
    refused(sites("delete", "shop-example"), 2, "--yes")
    assert all(len(site_rows(engine, num)[table]) == count for table, count in filled.items())
    deleted = succeeded(sites("delete", "shop-example", "--yes"))
    assert f"event {filled['event']}" in deleted
    assert stored(engine, "shop-example") is None
    assert all(rows == [] for rows in site_rows(engine, num).values())


def test_refusals_name_what_is_wrong(sites: Sites, engine: Engine) -> None:
    succeeded(sites(*SHOP))
    bad_options = [
        (("--timezone", "Mars/Olympus_Mons"), "--timezone", "Mars/Olympus_Mons"),
        (("--domain", "shop.example"), "--domain", "not an origin"),
        (("--recipients", "not-an-address"), "--recipients", "not-an-address"),
        (("--schedule", "every monday"), "--schedule", "cron"),
        (("--retention-days", "0"), "--retention-days", "greater than or equal to 1"),
        (("--name", "Two\nlines"), "--name", "one line"),
    ]
    for options, option, words in bad_options:
        refused(sites("create", "new-site", "--name", "New", *options), 2, option, words)
        if options[0] != "--name":
            refused(sites("update", "shop-example", *options), 2, option, words)
    refused(sites("create", "Not A Slug", "--name", "X"), 2, "ID", "lowercase")
    refused(sites("create", "shop-example", "--name", "Again"), 1, "exists already")
    refused(sites("update", "nowhere", "--name", "X"), 1, "no site has the id 'nowhere'")
    refused(sites("update", "shop-example"), 2, "nothing to change")
    both = ("--timezone", "UTC", "--reset", "timezone")
    refused(sites("update", "shop-example", *both), 2, "--timezone and --reset")
    refused(sites("delete", "default", "--yes"), 1, "'default' cannot be deleted")
    refused(sites("delete", "nowhere", "--yes"), 1, "no site has the id 'nowhere'")
    assert stored(engine, "new-site") is None
    site = stored(engine, "shop-example")
    assert site is not None
    assert (site.name, site.timezone) == ("Shop [bold]Example[/bold]", "Europe/Paris")


def test_an_unmigrated_database_is_refused(
    sites: Sites, operator_env: OperatorEnv, tmp_path: Path
) -> None:
    operator_env(DATABASE_URL=f"sqlite:///{tmp_path / 'new.db'}")
    for command in (("list",), ("create", "blog", "--name", "Blog"), ("delete", "x", "--yes")):
        refused(sites(*command), 2, "not migrated", "plugin-analytics migrate")
    assert not (tmp_path / "new.db").exists()
