"""GET /plugins: the installed analytics modules, loaded or not (and why not)."""

from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, Field

from plugin_analytics.modules.registry import LoadedModule, Modules, ModulesDep
from plugin_analytics.security import ADMIN_REFUSALS, READER_REFUSALS, AdminDep, ReaderGuard

router = APIRouter(tags=["plugins"], dependencies=[AdminDep], responses=ADMIN_REFUSALS)


# An installed analytics module, named as the route that lists it (GET /plugins) and as the
# OpenAPI has always called it.
class Plugin(BaseModel):
    name: str = Field(description="The entry point's name: the module's key.")
    status: str = Field(description="`loaded`, or `failed` (see error).")
    error: str | None = Field(description="Why the module was not loaded.")
    description: str
    distribution: str | None = Field(description="The package that installed it.")
    version: str | None
    entry_point: str = Field(description="module:attribute, as registered.")
    provides: list[str] = Field(
        description="What it adds: routes, summary, report_section, event_types."
    )
    routes: list[str] = Field(description="Its API paths (under /plugins/<name>/).")
    event_types: list[str] = Field(description="Event types it adds to ingestion.")

    @classmethod
    def of(cls, entry: LoadedModule) -> "Plugin":
        routes = entry.router.routes if entry.router else []
        return cls(
            name=entry.name,
            status="loaded" if entry.loaded else "failed",
            error=entry.error,
            description=entry.module.description if entry.module else "",
            distribution=entry.distribution,
            version=entry.version,
            entry_point=entry.entry_point,
            provides=entry.provides(),
            routes=sorted(
                f"/plugins/{entry.name}{path}"
                for route in routes
                if isinstance(path := getattr(route, "path", None), str)
            ),
            event_types=sorted(entry.properties) if entry.loaded else [],
        )


class Plugins(BaseModel):
    plugins: list[Plugin]


@router.get("/plugins", response_model=Plugins)
def plugins(modules: ModulesDep) -> Plugins:
    """Every installed analytics module (entry point group `plugin_analytics.modules`), with
    what it adds; a module that failed to load is listed with its error."""
    return Plugins(plugins=[Plugin.of(entry) for entry in modules.found])


def mount(app: FastAPI, modules: Modules) -> None:
    """Serve each loaded module's routes under /plugins/<name>, for an admin key or a viewer
    key (routes that read a site take RangeDep or SiteDep, which keep a viewer to its own)."""
    for entry in modules.loaded:
        if entry.router is not None:
            app.include_router(
                entry.router,
                prefix=f"/plugins/{entry.name}",
                tags=[f"plugin: {entry.name}"],
                dependencies=[ReaderGuard],
                responses=READER_REFUSALS,
            )
    app.include_router(router)
