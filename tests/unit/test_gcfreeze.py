"""``get_asgi_application(freeze_gc=True)``: off unless asked, and when
asked, start-up and long-lived sockets leave the collector's walk and what
closed sockets leave behind is still freed. Each case runs in a fresh
process: freezing changes ``gc`` for the whole process."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# CPython 3.12 starts with objects of its own frozen (375 on 3.12.1): the
# scripts count from what the interpreter froze before they ran.
BUILD = """
import gc, json, os
baseline = gc.get_freeze_count()
default = gc.get_threshold()[0]  # CPython's: 700, or 2,000 from 3.13
from notifications.asgi import get_asgi_application
application = get_asgi_application({arguments})
kind = type(application).__name__
frozen, young = gc.get_freeze_count() - baseline, gc.get_threshold()[0] - default
print(json.dumps({{"frozen": frozen, "young": young, "kind": kind}}))
"""

SOCKETS = """
import asyncio, gc, json, weakref
baseline = gc.get_freeze_count()
from notifications.asgi import get_asgi_application
from notifications.realtime.gcfreeze import FreezeLongLived

class Tangle:  # what a socket leaves: objects that hold each other
    def __init__(self):
        self.me = self

tangles = []

async def socket_application(scope, receive, send):
    tangle = Tangle()
    tangles.append(weakref.ref(tangle))
    await receive()  # held open until the test lets it go

async def main():
    get_asgi_application()  # Django set up
    freezer = FreezeLongLived(socket_application, check_seconds=3600)
    built = gc.get_freeze_count() - baseline
    young = [gc.get_threshold()[0]]
    gates = [asyncio.get_running_loop().create_future() for _ in range(201)]
    scope = {{"type": "websocket"}}

    async def receive_for(gate):
        return await gate

    def open_sockets(chosen):
        return [asyncio.create_task(freezer(scope, lambda g=gate: receive_for(g), None)) for gate in chosen]

    tasks = open_sockets(gates[:1])
    await asyncio.sleep(0)
    freezer.check()  # serving: start-up is frozen
    started = gc.get_freeze_count()
    young.append(gc.get_threshold()[0])
    tasks += open_sockets(gates[1:])
    await asyncio.sleep(0)
    freezer.check()  # the sockets are still arriving
    arriving = gc.get_freeze_count()
    freezer.check()  # a quiet tick: they are frozen
    frozen = gc.get_freeze_count()
    for gate in gates[1 : 1 + {closing}]:
        gate.set_result({{"type": "websocket.disconnect"}})
    await asyncio.gather(*tasks[1 : 1 + {closing}])
    gc.collect()  # frozen tangles survive a full collection
    kept = sum(ref() is not None for ref in tangles)
    freezer.check()
    result = {{
        "built": built, "young": young, "started": started, "arriving": arriving, "frozen": frozen,
        "freezes": freezer.freezes, "kept": kept, "thaws": freezer.thaws,
        "left": sum(ref() is not None for ref in tangles),
    }}
    for gate in gates:
        if not gate.done():
            gate.set_result({{"type": "websocket.disconnect"}})
    await asyncio.gather(*tasks)
    print(json.dumps(result))

asyncio.run(main())
"""


def run(script: str) -> dict:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_nothing_is_frozen_unless_the_site_asks():
    assert run(BUILD.format(arguments="")) == {"frozen": 0, "young": 0, "kind": "ProtocolTypeRouter"}


def test_importing_the_application_freezes_nothing_until_it_serves():
    assert run(BUILD.format(arguments="freeze_gc=True")) == {"frozen": 0, "young": 0, "kind": "FreezeLongLived"}
    result = run(SOCKETS.format(closing=20))
    assert result["built"] == 0
    assert result["started"] > 10_000  # Django, the apps, the routes
    default = 2000 if sys.version_info >= (3, 13) else 700
    assert result["young"] == [default, 10_000]  # CPython's default, then fewer young collections


def test_sockets_are_frozen_once_they_stop_arriving_and_a_few_closed_stay_frozen():
    result = run(SOCKETS.format(closing=20))
    assert result["arriving"] < result["started"] + 100  # not yet
    assert result["frozen"] > result["started"] + 200  # each socket's objects
    assert result["freezes"] == 2
    # 20 of 201 closed: under a quarter, so their tangles wait, frozen.
    assert result["thaws"] == 0
    assert result["kept"] == result["left"] == 201


def test_after_a_quarter_of_the_sockets_closed_their_garbage_is_freed():
    result = run(SOCKETS.format(closing=100))
    assert result["kept"] == 201  # frozen: a full collection skips them
    assert result["thaws"] == 1
    assert result["left"] == 101  # the closed sockets' tangles are gone
