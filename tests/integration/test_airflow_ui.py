"""The Airflow UI recipe (`make airflow-ui`, tools/airflow_ui.py): the API server, scheduler,
DAG processor and triggerer, with nothing listening beyond 127.0.0.1 (no log servers), the
password file and airflow.cfg private to the user, and every component gone after SIGTERM."""

import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from listening_sockets import SocketWatch, free_port, listening, status_of, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]


def test_the_airflow_ui_recipe_listens_on_loopback_only_and_keeps_its_secrets_private(tmp_path):
    home, port = tmp_path / "airflow", free_port()
    proc = subprocess.Popen([sys.executable, "tools/airflow_ui.py", "--home", str(home), "--port", str(port)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        with SocketWatch(proc.pid) as watch:
            wait_until(lambda: status_of(f"http://127.0.0.1:{port}/api/v2/monitor/health") == 200, 240, proc)
            time.sleep(8)  # the scheduler and triggerer would have opened their log servers by now
            components = psutil.Process(proc.pid).children()
        assert len(components) == 4 and all(c.is_running() for c in components)  # api-server, scheduler, …
        for name in ("api-server", "scheduler", "dag-processor", "triggerer"):
            assert (home / "ui-logs" / f"{name}.log").stat().st_size > 0, name
        assert ("127.0.0.1", port) in {(ip, p) for _, ip, p in watch.seen}
        assert watch.exposed() == [], watch.exposed()
        for secret in ("airflow.cfg", "simple_auth_manager_passwords.json.generated"):
            mode = stat.S_IMODE((home / secret).stat().st_mode)
            assert mode & 0o077 == 0, f"{secret} is readable by others: {oct(mode)}"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=90)
    assert listening(proc.pid) == set()
