"""A pool of its own for the process-manager tests: a copy of the binary (so a test can
replace it, as a deploy does), `billing serve` on its own socket and scoreboard, and an
nginx rendered from the one template on its own port, all on loopback."""

import grp
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import requests

from conftest import APP_DATABASE_URL, BILLING_BIN, REPO_ROOT


# As scripts/stack.sh: nginx's workers run as www-data, the pool's socket is in its group.
NGINX_USER = "www-data" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
NGINX_GROUP = grp.getgrgid(pwd.getpwnam(NGINX_USER).pw_gid).gr_name


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Pool:
    def __init__(self, workers=2, threads=2, extra=(), listen_also=None, rate_limit="100000r/s", rate_burst=100000,
                 also_upstream=(), billing_run_interval=0, env=None, webhook_sender=False):
        # nginx's workers run unprivileged: the folder must be reachable by them.
        self.dir = tempfile.mkdtemp(prefix="billing-pool-", dir="/tmp")
        os.chmod(self.dir, 0o755)
        self.binary = os.path.join(self.dir, "billing")
        shutil.copy2(BILLING_BIN, self.binary)
        # The workers' PDF renderer, which they find beside their own binary.
        shutil.copy2(os.path.join(os.path.dirname(BILLING_BIN), "billing-pdf"), os.path.join(self.dir, "billing-pdf"))
        self.socket = os.path.join(self.dir, "pool.sock")
        self.pid_file = os.path.join(self.dir, "pool.pid")
        self.log_path = os.path.join(self.dir, "pool.log")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, DATABASE_URL=APP_DATABASE_URL, BILLING_RUN_INTERVAL=str(billing_run_interval),
                   **(env or {}))
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [self.binary, "serve", "--socket", self.socket, "--workers", str(workers), "--threads", str(threads),
             "--pid-file", self.pid_file, "--graceful-timeout", "10", "--ready-timeout", "5",
             "--socket-group", NGINX_GROUP, *([] if webhook_sender else ["--no-webhook-sender"]), *extra],
            stdout=self.log, stderr=self.log, env=env)
        self._start_nginx(listen_also, rate_limit, rate_burst, also_upstream)
        self.wait_healthy()

    def _start_nginx(self, listen_also, rate_limit, rate_burst, also_upstream):
        nginx_dir = os.path.join(self.dir, "nginx")
        os.makedirs(nginx_dir)
        listen = f"127.0.0.1:{self.port}"
        if listen_also:
            listen += f"; listen {listen_also}:{self.port}"
        template = open(os.path.join(REPO_ROOT, "nginx/nginx.conf.template")).read()
        # More pools behind the same upstream block: one `server` line each.
        upstream = "; server ".join(f"unix:{path}" for path in [self.socket, *also_upstream])
        for name, value in {"NGINX_DIR": nginx_dir, "LISTEN": listen, "FASTCGI_ADDRESS": upstream,
                            "OPENAPI_FILE": os.path.join(REPO_ROOT, "nginx/openapi.yaml"),
                            "DOCS_DIR": nginx_dir, "DASHBOARD_DIR": nginx_dir, "RATE_LIMIT": rate_limit, "RATE_BURST": str(rate_burst),
                            "NGINX_USER": NGINX_USER}.items():
            template = template.replace("${" + name + "}", value)
        self.nginx_conf = os.path.join(nginx_dir, "nginx.conf")
        open(self.nginx_conf, "w").write(template)
        shutil.copy(os.path.join(REPO_ROOT, "nginx/fastcgi_billing.conf"), nginx_dir)
        subprocess.run(["nginx", "-p", nginx_dir, "-c", self.nginx_conf, "-e", os.path.join(nginx_dir, "error.log")],
                       check=True)

    def wait_healthy(self, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if requests.get(self.base + "/health/ready", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise AssertionError("pool did not become healthy:\n" + self.read_log())

    def read_log(self):
        return open(self.log_path, errors="replace").read()

    def billing(self, *args, timeout=90):
        return subprocess.run([BILLING_BIN, *args], capture_output=True, text=True, timeout=timeout)

    def reload(self):
        return self.billing("reload", "--pid-file", self.pid_file)

    def status(self, key):
        return requests.get(self.base + "/status", headers={"Authorization": f"Bearer {key}"}, timeout=10).json()

    def metrics(self, key):
        text = requests.get(self.base + "/metrics", headers={"Authorization": f"Bearer {key}"}, timeout=10).text
        values = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                values[name] = float(value)
        return values

    def replace_binary(self, source):
        """Installs a new binary the way a deploy does: write beside it, then rename."""
        staging = self.binary + ".new"
        shutil.copy2(source, staging)
        os.chmod(staging, 0o755)
        os.rename(staging, self.binary)

    def stop_master(self):
        """Stops the pool (SIGTERM) and waits; nginx stays up."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)

    def stop(self):
        subprocess.run(["nginx", "-p", os.path.dirname(self.nginx_conf), "-c", self.nginx_conf, "-s", "quit"],
                       capture_output=True)
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Background:
    """Threads running `self.loop(index)` until the `with` block ends: the load that
    tests keep up while they reload, kill or restart things."""

    def __init__(self, threads):
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.loop, args=(i,)) for i in range(threads)]

    def loop(self, index):
        raise NotImplementedError

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=120)


PGBIN = sorted(os.listdir("/usr/lib/postgresql"))[-1]


def crash_postgres():
    """Restarts the stack's PostgreSQL with `-m immediate`: a crash, then its recovery."""
    home = subprocess.run(["scripts/stack.sh", "home", os.environ["STACK_DIR"]], capture_output=True, text=True,
                          cwd=REPO_ROOT).stdout.strip()
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    # A log file, so that the new postmaster does not inherit (and hold open) our pipes.
    restart = as_postgres + [f"/usr/lib/postgresql/{PGBIN}/bin/pg_ctl", "-D", f"{home}/pg", "-w", "-t", "60",
                             "-l", f"{home}/pg/server.log", "-m", "immediate", "restart"]
    subprocess.run(restart, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=90)


def crash_under_load(pool, key, rounds=3):
    """While the caller's load runs: each round a ready worker is `kill -9`ed, and
    PostgreSQL is crashed after every round but the last."""
    for round_ in range(rounds):
        time.sleep(1.0)
        workers = [w["pid"] for w in pool.status(key)["workers"] if w["state"] == "ready"]
        os.kill(random.choice(workers), signal.SIGKILL)
        time.sleep(0.7)
        if round_ < rounds - 1:
            crash_postgres()
    time.sleep(1.5)
