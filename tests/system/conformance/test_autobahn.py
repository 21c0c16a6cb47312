"""Autobahn's WebSocket conformance fuzzer (wstest, the suite behind the
"Autobahn|Testsuite" reports) against an echo route on our daphne set-up:
the same daphne flags and daphne_compat patches as production.

wstest runs only on Python 2.7, so the test installs autobahntestsuite 0.8.2
from the package index into tests/artifacts/ for a Python 2.7 it finds
(AUTOBAHN_PYTHON, python2.7 on PATH, or pyenv's 2.7.18).

Excluded: cases 9.* (performance, with messages of 64 KiB to 16 MiB, all
over our 16 KiB limit) and 12.*/13.* (permessage-deflate, which daphne does
not offer). Every other case must pass, except those whose message is over
the 16 KiB limit: those must be closed with 1009, as designed.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import need
from tests.live import ARTIFACTS

pytestmark = [pytest.mark.daphne, pytest.mark.conformance]

# Cases that send a message over MAX_FRAME_BYTES (16 KiB): 64 KiB text and
# binary messages, whole or in fragments (10.1.1: in 1,300-byte fragments).
OVER_LIMIT = {"1.1.6", "1.1.7", "1.1.8", "1.2.6", "1.2.7", "1.2.8", "10.1.1"}
PASSING = {"OK", "NON-STRICT", "INFORMATIONAL"}


def python27() -> str | None:
    for candidate in (
        os.environ.get("AUTOBAHN_PYTHON"),
        shutil.which("python2.7"),
        str(Path.home() / ".pyenv/versions/2.7.18/bin/python"),
    ):
        if candidate and Path(candidate).exists():
            try:
                subprocess.run([candidate, "-c", "import sys; assert sys.version_info[:2] == (2, 7)"], check=True)
            except (OSError, subprocess.CalledProcessError):
                continue
            return candidate
    return None


def wstest(python: str) -> list[str]:
    target = ARTIFACTS / "autobahn-py27"
    if not (target / "autobahntestsuite").exists():
        subprocess.run(
            [python, "-m", "pip", "install", "--quiet", "--target", str(target), "autobahntestsuite==0.8.2"],
            check=True,
            timeout=600,
        )
    # --target leaves namespace packages (zope) to .pth files: addsitedir reads them.
    boot = (
        f"import site, sys; site.addsitedir({str(target)!r}); sys.argv[0] = 'wstest'; "
        "from autobahntestsuite.wstest import run; run()"
    )
    return [python, "-c", boot]


def test_autobahn_fuzzer_against_daphne(daphne, tmp_path):
    python = python27()
    need("Python 2.7 for Autobahn's wstest", python is not None)
    command = wstest(python)
    server = daphne(application="tests.system.conformance.echo_asgi:application")
    reports = ARTIFACTS / "autobahn-report"
    shutil.rmtree(reports, ignore_errors=True)
    spec = {
        "outdir": str(reports),
        "servers": [{"agent": "daphne", "url": f"{server.ws_url}/ws/echo/"}],
        "cases": ["*"],
        "exclude-cases": ["9.*", "12.*", "13.*"],
        "exclude-agent-cases": {},
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    run = subprocess.run(
        [*command, "-m", "fuzzingclient", "-s", str(tmp_path / "spec.json")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    results = json.loads((reports / "index.json").read_text())["daphne"]
    assert len(results) == 247

    failures = {}
    for case, result in results.items():
        if result["behavior"] in PASSING and result["behaviorClose"] in PASSING:
            continue
        if case in OVER_LIMIT:
            detail = json.loads((reports / result["reportfile"]).read_text())
            if detail["remoteCloseCode"] == 1009:
                continue
        failures[case] = (result["behavior"], result["behaviorClose"])
    counts = {}
    for result in results.values():
        counts[result["behavior"]] = counts.get(result["behavior"], 0) + 1
    print(f"Autobahn: {len(results)} cases, {counts}; over the 16 KiB limit, closed with 1009: {sorted(OVER_LIMIT)}")
    assert failures == {}
    assert "Traceback" not in server.log_text()
