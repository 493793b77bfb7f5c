"""The framework's ceiling: one Flask route returning a fixed JSON body, nothing else.

Served by the same server settings as Tessera (idp/serving.py, via bench/run_bench.py), so every
Tessera figure can be read as a fraction of what Flask + that server can do on this machine.
"""

from __future__ import annotations

from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/")
def index():
    return jsonify(ok=True, service="bare-flask")
