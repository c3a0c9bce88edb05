"""GET and POST /sites, GET, PATCH and DELETE /sites/{site_id}: the websites the installation
collects for. Deleting a site erases all its data."""

from typing import Annotated

from fastapi import APIRouter, Path, status

from plugin_analytics.dependencies import EngineDep, KeysDep, SessionDep, SettingsDep
from plugin_analytics.errors import refusals
from plugin_analytics.security import ADMIN_REFUSALS, AdminDep
from plugin_analytics.sites import service
from plugin_analytics.sites.registry import SLUG_PATTERN, all_sites, find_site
from plugin_analytics.sites.schemas import (
    SiteCreate,
    SiteDeletion,
    SiteList,
    SitePublic,
    SiteUpdate,
)

router = APIRouter(tags=["sites"], dependencies=[AdminDep], responses=ADMIN_REFUSALS)

SiteIdPath = Annotated[
    str, Path(pattern=f"^{SLUG_PATTERN}$", description="The site's id, e.g. shop-example.")
]
UNKNOWN = {404: "No site has this id"}
NOT_JSON = {400: "The body is not JSON"}


@router.get("/sites", response_model=SiteList)
def list_sites(session: SessionDep, settings: SettingsDep) -> SiteList:
    """Every site, `default` first, then by id."""
    sites = all_sites(session.connection(), settings)
    return SiteList(sites=[SitePublic.of(site) for site in sites])


@router.post(
    "/sites",
    response_model=SitePublic,
    status_code=status.HTTP_201_CREATED,
    responses=refusals({**NOT_JSON, 409: "A site with this id exists already"}),
)
def create_site(
    new: SiteCreate, engine: EngineDep, settings: SettingsDep, ring: KeysDep
) -> SitePublic:
    """Make a site. Its id names it in URLs and the CLI, and cannot change."""
    made = service.create_site(engine, new, settings)
    ring.reload_now()  # ingestion here knows it at once (other workers within seconds)
    return SitePublic.of(made)


@router.get("/sites/{site_id}", response_model=SitePublic, responses=refusals(UNKNOWN))
def read_site(site_id: SiteIdPath, session: SessionDep, settings: SettingsDep) -> SitePublic:
    """One site, as it is in force."""
    site = find_site(session.connection(), site_id, settings)
    if site is None:
        raise service.SiteNotFound(site_id)
    return SitePublic.of(site)


@router.patch(
    "/sites/{site_id}", response_model=SitePublic, responses=refusals({**NOT_JSON, **UNKNOWN})
)
def update_site(
    site_id: SiteIdPath,
    changes: SiteUpdate,
    engine: EngineDep,
    settings: SettingsDep,
    ring: KeysDep,
) -> SitePublic:
    """Change the fields sent; null puts one back to the installation's default. The id cannot
    change."""
    changed = service.update_site(engine, site_id, changes, settings)
    ring.reload_now()  # domains and retention_days, for ingestion
    return SitePublic.of(changed)


@router.delete(
    "/sites/{site_id}",
    response_model=SiteDeletion,
    responses=refusals({**UNKNOWN, 409: "The site `default`, which cannot be deleted"}),
)
def delete_site(site_id: SiteIdPath, engine: EngineDep, ring: KeysDep) -> SiteDeletion:
    """Delete a site and everything collected for it (events, rollups, profiles, reports, its
    keys), in one transaction; the rows deleted by table."""
    deleted = service.delete_site(engine, site_id)
    ring.reload_now()
    return SiteDeletion(site=site_id, deleted=deleted)
