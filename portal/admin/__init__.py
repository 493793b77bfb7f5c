"""Admin console (/admin): access requests, apps, users and the audit log, for admins only."""
