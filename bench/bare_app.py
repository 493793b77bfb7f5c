"""The framework's ceiling: one Flask route returning a fixed JSON body, nothing else.

Served by the same gunicorn settings as Tessera (bench/run_bench.py), so every Tessera figure
can be read as a fraction of what Flask + gunicorn can do at all on this machine.
"""

from __future__ import annotations

from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/")
def index():
    return jsonify(ok=True, service="bare-flask")
