"""`plugin-analytics keys`: make, list and revoke write, viewer and admin keys."""

from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from plugin_analytics.access.keys import KeyRefused, create_key, list_keys, revoke_key
from plugin_analytics.cli_support import console, database
from plugin_analytics.db.session import write_transaction

keys_app = typer.Typer(
    help="Write keys (send a site's events), viewer keys (read a site) and admin keys (read "
    "every site, administer).",
    no_args_is_help=True,
)


class KeyKind(StrEnum):
    write = "write"
    viewer = "viewer"
    admin = "admin"


@keys_app.command("create")
def keys_create(
    kind: Annotated[
        KeyKind,
        typer.Option(help="write: send a site's events; viewer: read a site; admin: everything."),
    ],
    site: Annotated[
        str | None,
        typer.Option(
            help="The site's id: a write key's defaults to `default`, a viewer key "
            "needs one, an admin key (every site) takes none."
        ),
    ] = None,
    name: Annotated[str, typer.Option(help="A label, e.g. who it is for.")] = "",
) -> None:
    """Make a key and print it once; only its digest is stored."""
    with database() as engine:
        try:
            with write_transaction(engine) as connection:
                new = create_key(connection, kind.value, name.strip()[:100], site=site)
        except KeyRefused as exc:
            console.print(f"[red]--{exc.field}: {escape(str(exc))}[/red]")
            raise typer.Exit(2) from None
    of_site = f" for the site {escape(new.site)}" if new.site else " for every site"
    console.print(f"Created {new.kind} key {new.id}{of_site}. It is shown only this once:")
    console.print(new.key, markup=False, highlight=False, soft_wrap=True)
    if new.kind == "write":
        console.print(
            "From now on ingestion requires a write key (workers pick this up within 5 s)."
        )


@keys_app.command("revoke")
def keys_revoke(
    key: Annotated[str, typer.Argument(help="The key's id (see `keys list`) or the key itself.")],
) -> None:
    """Revoke a key: every worker refuses it within 5 seconds."""
    with database() as engine, write_transaction(engine) as connection:
        revoked = revoke_key(connection, key.strip())
    if revoked is None:
        console.print("[red]No such key.[/red]")
        raise typer.Exit(1)
    console.print(f"Revoked {revoked['kind']} key {revoked['id']} ({revoked['prefix']}…).")


@keys_app.command("list")
def keys_list() -> None:
    """Every key made with the CLI or the API (not WRITE_KEYS or ADMIN_API_KEY), without the
    secrets. An admin key's site is `*`: it reads every site."""
    with database() as engine, engine.connect() as connection:
        keys = list_keys(connection)
    console.print(_key_table(keys))


def _key_table(keys: list[dict[str, Any]]) -> Table:
    """Every column but the name in full however narrow the terminal (the name folds), days in
    UTC: GET /keys has the times."""
    rows = [_key_row(key) for key in keys]
    table = Table()
    for n, heading in enumerate(("id", "kind", "site", "name", "key starts", "created", "revoked")):
        if heading == "name":
            table.add_column(heading, overflow="fold")
        else:
            widest = max([len(heading), *(len(row[n]) for row in rows)])
            table.add_column(heading, no_wrap=True, min_width=widest)
    for row in rows:
        table.add_row(*row)
    return table


def _key_row(key: dict[str, Any]) -> tuple[str, ...]:
    revoked = key["revoked_at"]
    return (
        str(key["id"]),
        key["kind"],
        escape(key["site"] or "*"),
        escape(key["name"]),
        f"{key['prefix']}…",
        f"{key['created_at']:%Y-%m-%d}",
        f"{revoked:%Y-%m-%d}" if revoked else "",
    )
