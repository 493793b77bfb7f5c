"""Run Tessera under gunicorn, in-process, with the settings in gunicorn.conf.py."""

from __future__ import annotations

import os

from gunicorn.app.base import Application

from idp.config import PROJECT_ROOT


class _TesseraApplication(Application):  # Application: it can read a config file
    def __init__(self, options: dict) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        self.cfg.set("config", str(PROJECT_ROOT / "gunicorn.conf.py"))
        self.load_config_from_file(str(PROJECT_ROOT / "gunicorn.conf.py"))
        for key, value in self.options.items():
            if value is not None:
                self.cfg.set(key, value)

    def load(self):
        from idp import create_app

        return create_app()


def run_gunicorn(host: str, port: int, workers: int | None) -> None:
    _TesseraApplication({"bind": f"{host}:{port}", "workers": workers or os.cpu_count() or 1}).run()
