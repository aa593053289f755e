"""One prepared :class:`gis.access_whatif.WhatIf` per database, shared by the app's requests.

Loading a what-if session (network, snapped buildings) is the slow part of a what-if, so the app
keeps one per database URL and reloads it only when the data it was loaded from changed (its
``version`` no longer matches :func:`gis.access_store.fingerprint`).
"""

from __future__ import annotations

import threading

from flask import current_app

from gis.access_store import fingerprint
from gis.access_whatif import WhatIf
from gis.config import get_settings
from gis.db.connection import database_url

_KEY = "gridmap_whatif"


def whatif_session(conn) -> WhatIf:
    """The app's what-if session of its database, (re)loaded when the data changed.

    Parameters
    ----------
    conn : psycopg2 connection
        An open connection to the app's database (used to check the fingerprint, and to load).

    Returns
    -------
    WhatIf
        Current for the data as it is now.
    """
    store = current_app.extensions.setdefault(_KEY, {"lock": threading.Lock(), "sessions": {}})
    key = current_app.config.get("DATABASE_URL") or database_url()
    norms = get_settings().norms
    version = fingerprint(conn, norms)
    with store["lock"]:
        session = store["sessions"].get(key)
        if session is None or session.version != version:
            session = WhatIf.load(conn, norms=norms)
            store["sessions"][key] = session
    return session
