# gunicorn settings for Tessera (`tessera serve`, `make run`, the benchmarks).
import os

bind = os.environ.get("TESSERA_BIND", "127.0.0.1:5000")
workers = int(os.environ.get("TESSERA_WORKERS", os.cpu_count() or 1))
worker_class = "sync"
# Each worker builds its own app after fork: no shared database connections across processes.
preload_app = False
keepalive = 5
timeout = 30
# TESSERA_ACCESS_LOG: a file, "-" for stderr (the default), or empty for none (benchmarks).
accesslog = os.environ.get("TESSERA_ACCESS_LOG", "-") or None
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(L)ss'
