"""Tessera identity provider.

This package's ``__init__`` imports nothing on purpose: ``idp.middleware`` lives under it and
must load in a resource server that has neither Flask nor SQLAlchemy installed.
"""


def create_app(config=None, **options):  # re-exported for ``flask --app idp``
    from idp.app import create_app as _create_app

    return _create_app(config, **options)
