# gunicorn settings for Tessera (`tessera serve`, `make run`, the benchmarks).
import os

bind = os.environ.get("TESSERA_BIND", "127.0.0.1:5000")
workers = int(os.environ.get("TESSERA_WORKERS", os.cpu_count() or 1))
worker_class = "sync"
# Each worker builds its own app after fork: no shared database connections across processes.
preload_app = False
keepalive = 5
timeout = 30
accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(L)ss'
