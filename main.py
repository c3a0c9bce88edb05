"""`uvicorn main:app`: the seed's entry point."""

import sys

from plugin_analytics.app import create_app
from plugin_analytics.config import SettingsError

try:
    app = create_app()
except SettingsError as exc:
    sys.exit(str(exc))
