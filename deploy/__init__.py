"""The production recipe: nginx in front of several `tessera serve` instances (deploy/README.md)."""
