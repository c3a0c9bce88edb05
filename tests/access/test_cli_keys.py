"""`plugin-analytics keys`: a key is shown once, stored as a digest, listed by prefix, revocable,
audited, and taken up by a running server within seconds, with no restart."""

import hashlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from rich.console import Console
from typer.testing import CliRunner, Result

from plugin_analytics import cli
from plugin_analytics.access import cli as keys_cli
from plugin_analytics.config import Settings
from plugin_analytics.db.models import DEFAULT_SITE_NUM
from tests.access.conftest import MakeSite
from tests.access.helpers import audit_entries, database_dump, key_rows, revoke
from tests.conftest import OperatorEnv, client_for
from tests.helpers import event, stored_events
from tests.servers import ServerProcess

pytestmark = pytest.mark.anyio

runner = CliRunner()
KEY = re.compile(r"\bpa_(?:write|viewer|admin)_[A-Za-z0-9_-]{20,}")
PICK_UP_SECONDS = 6.0  # the key ring reloads every 5 s
Keys = Callable[..., Result]


@pytest.fixture
def keys(
    database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, operator_env: OperatorEnv
) -> Keys:
    """Run `plugin-analytics keys ...` on the test's database."""
    monkeypatch.chdir(tmp_path)  # away from any developer's .env
    # As when output is not a terminal.
    monkeypatch.setattr(keys_cli, "console", Console(width=80))
    operator_env(DATABASE_URL=database_url)
    return lambda *args: runner.invoke(cli.app, ["keys", *args])


def created_key(result: Result) -> str:
    """The one key `keys create` printed."""
    assert result.exit_code == 0, result.output
    keys: list[str] = KEY.findall(result.output)
    [key] = keys
    return key


def test_create_shows_the_key_once_and_stores_only_its_digest(
    keys: Keys, database_url: str
) -> None:
    key = created_key(keys("create", "--kind", "write", "--name", "shop.example"))
    assert key.startswith("pa_write_")
    [row] = key_rows(database_url)
    assert (row["kind"], row["name"], row["revoked_at"]) == ("write", "shop.example", None)
    assert row["digest"] == hashlib.sha256(key.encode()).hexdigest()
    assert key.startswith(row["prefix"])
    assert len(row["prefix"]) <= len("pa_write_") + 6
    assert key not in database_dump(database_url)
    assert key.removeprefix("pa_write_") not in database_dump(database_url)
    [entry] = audit_entries(database_url)
    assert (entry["action"], entry["rows"]) == ("key_created", 1)
    assert entry["detail"]["key_id"] == row["id"]
    assert entry["detail"]["kind"] == "write"
    assert row["prefix"][len("pa_write_") :] not in repr(entry)  # not even part of the key


def test_list_shows_a_prefix_never_the_key(keys: Keys, database_url: str) -> None:
    made = [
        created_key(keys("create", "--kind", kind, "--name", f"{kind} key"))
        for kind in ("write", "admin", "write")
    ]
    assert keys("revoke", made[0]).exit_code == 0
    listed = keys("list")
    assert listed.exit_code == 0, listed.output
    for key, row in zip(made, key_rows(database_url), strict=True):
        assert row["prefix"][:12] in listed.output  # at least what an 80-column table keeps
        assert key[: len(row["prefix"]) + 1] not in listed.output
    assert not KEY.search(listed.output)


def test_list_shows_each_stored_prefix_in_full(keys: Keys, database_url: str) -> None:
    first = created_key(keys("create", "--kind", "write", "--name", "shop.example"))
    created_key(keys("create", "--kind", "admin"))
    assert keys("revoke", first).exit_code == 0
    listed = keys("list")
    for row in key_rows(database_url):
        assert row["prefix"] in listed.output


def test_revoke_by_id_or_by_key(keys: Keys, database_url: str) -> None:
    by_id, by_key, admin = (
        created_key(keys("create", "--kind", kind)) for kind in ("write", "write", "admin")
    )
    first_id = str(key_rows(database_url)[0]["id"])
    for target in (first_id, f" {by_key} "):
        result = keys("revoke", target)
        assert result.exit_code == 0, result.output
        assert "Revoked write key" in result.output
        assert not KEY.search(result.output)
    rows = key_rows(database_url)
    assert [row["revoked_at"] is not None for row in rows] == [True, True, False]
    revoked = [entry for entry in audit_entries(database_url) if entry["action"] == "key_revoked"]
    assert [entry["detail"]["key_id"] for entry in revoked] == [rows[0]["id"], rows[1]["id"]]
    for key in (by_id, by_key, admin):
        assert key not in database_dump(database_url)


def test_revoking_twice_changes_nothing(keys: Keys, database_url: str) -> None:
    key = created_key(keys("create", "--kind", "admin"))
    assert keys("revoke", key).exit_code == 0
    [before] = key_rows(database_url)
    assert keys("revoke", key).exit_code == 0
    assert key_rows(database_url) == [before]
    assert [entry["action"] for entry in audit_entries(database_url)] == [
        "key_created",
        "key_revoked",
    ]


def test_each_kind_is_made_for_its_site(keys: Keys, database_url: str, sites: MakeSite) -> None:
    shop = sites("shop")
    made = {
        "write": keys("create", "--kind", "write"),
        "shop write": keys("create", "--kind", "write", "--site", "shop"),
        "viewer": keys("create", "--kind", "viewer", "--site", "shop"),
        "admin": keys("create", "--kind", "admin"),
    }
    for result in made.values():
        created_key(result)
    assert "for the site default" in made["write"].output
    assert "for the site shop" in made["viewer"].output
    assert "for every site" in made["admin"].output
    assert created_key(made["viewer"]).startswith("pa_viewer_")
    rows = [(row["kind"], row["site_num"]) for row in key_rows(database_url)]
    assert rows == [("write", DEFAULT_SITE_NUM), ("write", shop), ("viewer", shop), ("admin", None)]
    assert [entry["detail"]["site"] for entry in audit_entries(database_url)] == [
        "default",
        "shop",
        "shop",
        None,
    ]


REFUSED = [
    (["--kind", "viewer"], "--site: a viewer key reads one site: name it"),
    (["--kind", "admin", "--site", "shop"], "--site: an admin key reads every site"),
    (["--kind", "admin", "--site", "default"], "--site: an admin key reads every site"),
    (["--kind", "write", "--site", "nope"], "--site: there is no site 'nope'"),
    (["--kind", "viewer", "--site", "nope"], "--site: there is no site 'nope'"),
    (["--kind", "viewer", "--site", "[red]x"], "--site: there is no site '[red]x'"),
]


@pytest.mark.parametrize(("options", "message"), REFUSED)
def test_a_key_that_does_not_fit_its_site_is_refused(
    keys: Keys, database_url: str, sites: MakeSite, options: list[str], message: str
) -> None:
    sites("shop")
    result = keys("create", *options)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert not KEY.search(result.output)
    assert key_rows(database_url) == []
    assert audit_entries(database_url) == []


def test_an_unknown_kind_is_refused(keys: Keys, database_url: str) -> None:
    result = keys("create", "--kind", "owner")
    assert result.exit_code == 2
    assert key_rows(database_url) == []


def test_list_shows_each_keys_site(keys: Keys, database_url: str, sites: MakeSite) -> None:
    sites("my-shop")
    created_key(keys("create", "--kind", "write", "--name", "[bold]front[/bold]"))
    created_key(keys("create", "--kind", "viewer", "--site", "my-shop", "--name", "x" * 40))
    revoked = created_key(keys("create", "--kind", "admin"))
    assert keys("revoke", revoked).exit_code == 0
    listed = keys("list")
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    for row, site in zip(key_rows(database_url), ["default", "my-shop", "*"], strict=True):
        [line] = [line for line in lines if row["prefix"] in line]  # each prefix in full
        assert f" {site} " in line, line
        assert f"{row['created_at']:%Y-%m-%d}" in line
    assert "[bold]" in listed.output  # a name is shown as it was given, not as markup


UNKNOWN = [
    "999",
    "pa_write_nobody_made_this",
    "",
    "99999999999999999999",
    "²",
]


@pytest.mark.parametrize("unknown", UNKNOWN)
def test_revoking_an_unknown_key_exits_1(keys: Keys, database_url: str, unknown: str) -> None:
    key = created_key(keys("create", "--kind", "write"))
    result = keys("revoke", unknown)
    assert (result.exit_code, type(result.exception)) == (1, SystemExit), result.output
    assert "No such key" in result.output
    assert key_rows(database_url)[0]["revoked_at"] is None
    assert [entry["action"] for entry in audit_entries(database_url)] == ["key_created"]
    assert key not in result.output


async def test_keys_from_the_cli_work_over_http(
    keys: Keys, settings: Settings, database_url: str
) -> None:
    write = created_key(keys("create", "--kind", "write"))
    admin = created_key(keys("create", "--kind", "admin"))
    doomed = created_key(keys("create", "--kind", "write"))
    assert keys("revoke", doomed).exit_code == 0
    day = {"start_date": "2026-01-01", "end_date": "2026-01-01"}
    async with client_for(settings) as http:
        assert (await http.post("/client/update", json=event())).status_code == 401
        accepted = await http.post("/client/update", json=event(event_id="in"), auth=(write, ""))
        assert accepted.status_code == 200
        in_body = await http.post("/client/update", json=event(event_id="body", write_key=write))
        assert in_body.status_code == 200
        refused = await http.post("/client/update", json=event(), auth=(doomed, ""))
        assert refused.json() == {"detail": "this key was revoked"}
        as_admin = {"Authorization": f"Bearer {admin}"}
        assert (await http.get("/analytics/summary", params=day, headers=as_admin)).is_success
        forbidden = await http.post("/client/update", json=event(), headers={"X-Write-Key": admin})
        assert forbidden.status_code == 403
        as_writer = {"Authorization": f"Bearer {write}"}
        read = await http.get("/analytics/summary", params=day, headers=as_writer)
        assert read.status_code == 403
    assert [row["event_id"] for row in stored_events(database_url)] == ["in", "body"]
    for key in (write, admin, doomed):
        assert key not in database_dump(database_url)


def run_cli(database_url: str, cwd: Path, *args: str) -> str:
    """`plugin-analytics ARGS` in a process of its own, as an operator runs it."""
    command = Path(sys.executable).with_name("plugin-analytics")
    result = subprocess.run(
        [str(command), *args],
        env={**os.environ, "DATABASE_URL": database_url},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def eventually(predicate: Callable[[], bool], seconds: float) -> float:
    """How long `predicate` took to hold; fails if it did not within `seconds`."""
    began = time.monotonic()
    while not predicate():
        assert time.monotonic() - began < seconds, f"not within {seconds} s"
        time.sleep(0.2)
    return time.monotonic() - began


@pytest.mark.slow
def test_running_server_takes_up_new_and_revoked_keys(sqlite_url: str, tmp_path: Path) -> None:
    accepted: list[str] = []
    with ServerProcess(sqlite_url, WRITE_KEYS="", INGEST_RATE_LIMIT="") as server:

        def post(
            headers: dict[str, str] | None = None, auth: tuple[str, str] | None = None
        ) -> httpx.Response:
            body = event(event_id=f"e{time.monotonic_ns()}")
            url = f"{server.base_url}/client/update"
            response = httpx.post(url, json=body, headers=headers, auth=auth, timeout=10)
            if response.status_code == 200:
                accepted.append(body["event_id"])
            return response

        assert post().status_code == 200
        [key] = KEY.findall(run_cli(sqlite_url, tmp_path, "keys", "create", "--kind", "write"))
        eventually(lambda: post().status_code == 401, PICK_UP_SECONDS)
        assert post(headers={"X-Write-Key": key}).status_code == 200
        revoke(sqlite_url, key)
        eventually(lambda: post(auth=(key, "")).status_code == 401, PICK_UP_SECONDS)
        assert post(auth=(key, "")).json() == {"detail": "this key was revoked"}
        assert post().status_code == 401
    assert [row["event_id"] for row in stored_events(sqlite_url)] == accepted
