"""The supported matrix: Python 3.11-3.13 with Django 5.2 LTS and 6.x.

`make test` runs the whole suite (browser tests included) on the pinned
demo environment (Python 3.11, Django 5.2). These sessions run everything but
the browser and packaging tests on each combination, on SQLite with the
in-memory layer, plus the real daphne and Redis the live tests start.
"""

import glob
import os
import shutil
import subprocess

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
# On CI a missing interpreter must fail the run, not skip a session quietly.
nox.options.error_on_missing_interpreters = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

TEST_DEPENDENCIES = [
    "dj-database-url",
    "psycopg[binary,pool]",
    "pytest",
    "pytest-django",
    "pytest-asyncio",
    "websockets",
    "aiosmtpd",
]
MATRIX = [("3.11", "5.2"), ("3.12", "5.2"), ("3.12", "6.1"), ("3.13", "5.2"), ("3.13", "6.1")]


def interpreter(version: str) -> str:
    """`pythonX.Y` on PATH if it runs, else one that pyenv installed but
    did not activate (its shim on PATH then refuses to run)."""
    if (
        shutil.which(f"python{version}")
        and subprocess.run([f"python{version}", "-V"], capture_output=True).returncode == 0
    ):
        return version
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    found = sorted(glob.glob(os.path.join(root, "versions", f"{version}.*", "bin", f"python{version}")))
    return found[-1] if found else version


@nox.session
@nox.parametrize(
    "python,django",
    [nox.param(interpreter(py), dj, id=f"python{py}-django{dj}") for py, dj in MATRIX],
)
def tests(session: nox.Session, django: str) -> None:
    """The suite on each supported Python and Django. The fault tests and the
    fuzzer take minutes and do not depend on these versions; `make test` and
    the `oldest` session run them."""
    session.install(f"Django~={django}.0", ".[daphne,hiredis,webpush]", *TEST_DEPENDENCIES)
    session.run(
        "python",
        "-m",
        "pytest",
        "-q",
        "-m",
        "not browser and not packaging and not conformance",
        "--ignore=tests/system/reliability",
        *session.posargs,
    )


# The lower bound of every range in pyproject.toml, so the ranges are tested.
OLDEST = [
    "Django==5.2.0",
    "channels==4.2.2",
    "channels-redis==4.3.0",
    "redis==4.6.0",
    "orjson==3.10.0",
    "daphne==4.2.2",
    "pywebpush==2.5.0",
]


@nox.session(python=interpreter("3.11"))
def oldest(session: nox.Session) -> None:
    session.install(*OLDEST, ".[webpush]", *TEST_DEPENDENCIES)
    session.run("python", "-m", "pytest", "-q", "-m", "not browser and not packaging", *session.posargs)


# The tests that run daphne, autobahn and Twisted's internals, which
# daphne_compat's parts replace: its own, the handshake and slow-client
# tests, the live pushes, and Autobahn's fuzzer.
SERVER_TESTS = [
    "tests/unit/test_daphne_compat.py",
    "tests/system/test_daphne_compat.py",
    "tests/system/security/test_handshake.py",
    "tests/system/reliability/test_slow_consumer.py",
    "tests/system/test_live.py",
    "tests/system/conformance",
]


@nox.session(python=interpreter("3.11"))
def newest_servers(session: nox.Session) -> None:
    """daphne_compat against the newest daphne, autobahn and Twisted on PyPI,
    beside the pinned ones `make test` uses."""
    session.install("-r", "requirements-test.txt")
    session.install("--upgrade", "daphne", "autobahn", "twisted")
    session.run(
        "python",
        "-c",
        "import daphne, autobahn, twisted; print(daphne.__version__, autobahn.__version__, twisted.__version__)",
    )
    session.run("python", "-m", "pytest", "-q", *SERVER_TESTS, *session.posargs)
