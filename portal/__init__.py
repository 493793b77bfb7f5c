"""Developer portal (/developers), admin console (/admin) and the management API (/api/v1)."""
