"""The Airflow UI on 127.0.0.1 only (`make airflow-ui`): what `airflow standalone` starts, one
component at a time, so that nothing listens beyond loopback.

`airflow standalone` starts each component with its log server, which binds every interface
(8793 for task logs, 8794 for the triggerer) and has no host setting. Here the scheduler and the
triggerer run with `--skip-serve-logs` (the API server reads the task logs from AIRFLOW_HOME/logs on
this machine), the API server binds 127.0.0.1, and everything runs under umask 077 so the generated
admin password and airflow.cfg's secrets are readable by this user only. Ctrl-C or SIGTERM stops
every component.

    python tools/airflow_ui.py [--home runs/airflow] [--port 8080]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PASSWORDS = "simple_auth_manager_passwords.json.generated"


def settings(home: Path, port: int) -> dict[str, str]:
    """The environment every component shares: loopback, this repository's DAGs, no examples."""
    return {"AIRFLOW_HOME": str(home.resolve()), "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__API__HOST": "127.0.0.1", "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin"}


def commands(airflow: str, port: int) -> dict[str, list[str]]:
    return {"api-server": [airflow, "api-server", "--host", "127.0.0.1", "--port", str(port)],
            "scheduler": [airflow, "scheduler", "--skip-serve-logs"],
            "dag-processor": [airflow, "dag-processor"],
            "triggerer": [airflow, "triggerer", "--skip-serve-logs"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=REPO / "runs" / "airflow", help="AIRFLOW_HOME")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    os.umask(0o077)  # the password file and airflow.cfg (its secret keys) stay private
    args.home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **settings(args.home, args.port)}
    airflow = str(Path(sys.executable).parent / "airflow")
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
    logs = args.home / "ui-logs"
    logs.mkdir(exist_ok=True)
    procs = {name: subprocess.Popen(cmd, env=env, stdout=(logs / f"{name}.log").open("w"), stderr=subprocess.STDOUT)
             for name, cmd in commands(airflow, args.port).items()}

    def stop(*_) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print(f"Airflow UI at http://127.0.0.1:{args.port} (user admin; password in {args.home / PASSWORDS}); "
          f"logs in {logs}; Ctrl-C stops", flush=True)
    try:
        while all(p.poll() is None for p in procs.values()):
            time.sleep(1)
        failed = [n for n, p in procs.items() if p.poll() is not None]
        print(f"{', '.join(failed)} stopped; see {logs}", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.terminate()
        for p in procs.values():
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    main()
