"""Tessera identity provider.

This package's ``__init__`` imports nothing on purpose: ``flask --app idp`` and the CLI load
only what they use. The resource-server middleware is a separate distribution (middleware/,
``tessera_middleware``) that this package never imports.
"""


def create_app(config=None, **options):  # re-exported for ``flask --app idp``
    from idp.app import create_app as _create_app

    return _create_app(config, **options)
