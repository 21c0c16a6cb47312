"""A CHANNEL_LAYERS entry for channels-redis with the measured traps handled."""

from collections.abc import Sequence
from typing import Any

import redis
from channels_redis.utils import decode_hosts

# channels-redis blocks in BZPOPMIN for this long per receive() call.
CHANNELS_REDIS_POP_TIMEOUT = 5

# What channels-redis's ``hosts`` takes: a list of Redis URLs, (host, port)
# pairs, or dicts of connection options, where a dict with ``sentinels`` and
# ``master_name`` is a Redis behind Sentinel. Each entry is a shard.
HostEntry = str | tuple[str, int] | list[Any] | dict[str, Any]


def _driver_info() -> dict[str, Any]:
    """Connection options that spare redis-py its per-connection version lookup."""
    version = getattr(redis, "__version__", "unknown")
    try:
        from redis.driver_info import DriverInfo  # redis-py 7.1+
    except ImportError:
        # redis-py 5.0 added the option (and the lookup it spares).
        return {"lib_version": version} if _major(version) >= 5 else {}
    return {"driver_info": DriverInfo(lib_version=version)}


def _major(version: str) -> int:
    head = version.split(".", 1)[0]
    return int(head) if head.isdigit() else 0


def sentinel_hosts(
    sentinels: str | Sequence[str | tuple[str, int]],
    master_names: str | Sequence[str],
    **options: Any,
) -> list[dict[str, Any]]:
    """channels-redis ``hosts`` entries for Redis behind Sentinel: one entry
    (one shard) per master name, each found through the same sentinels.

    ``sentinels`` is ``"host:port,host:port"`` or a list of ``"host:port"``
    strings or ``(host, port)`` pairs; ``master_names`` is a name, a
    comma-separated string of names, or a list. ``options`` go into each
    entry (``db``, ``password``, ``sentinel_kwargs``, ...).
    """
    if isinstance(sentinels, str):
        sentinels = sentinels.split(",")
    addresses = [
        _sentinel_address(sentinel) for sentinel in sentinels if not isinstance(sentinel, str) or sentinel.strip()
    ]
    if isinstance(master_names, str):
        master_names = master_names.split(",")
    names = [name.strip() for name in master_names if name.strip()]
    if not addresses:
        raise ValueError("Sentinel needs at least one sentinel address (host:port).")
    if not names:
        raise ValueError("Sentinel needs the name of the master it monitors (e.g. 'mymaster').")
    return [{"sentinels": addresses, "master_name": name, **options} for name in names]


def _sentinel_address(sentinel: str | tuple[str, int]) -> tuple[str, int]:
    if not isinstance(sentinel, str):
        host, port = sentinel
        return str(host), int(port)
    host, _, port = sentinel.strip().rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"A sentinel address must be host:port, not {sentinel.strip()!r}.")
    return host.strip("[]"), int(port)


def redis_channel_layer(
    hosts: str | Sequence[HostEntry],
    *,
    capacity: int = 10_000,
    expiry: int = 60,
    group_expiry: int = 86_400,
    max_connections: int = 1_000,
    socket_timeout: float = 3 * CHANNELS_REDIS_POP_TIMEOUT,
    socket_connect_timeout: float = 3,
    prefix: str = "asgi",
) -> dict[str, Any]:
    """Return a ``CHANNEL_LAYERS["default"]`` dict for ``RedisChannelLayer``.

    ``hosts`` is one Redis URL, or a list exactly as channels-redis's
    ``hosts`` takes it: URLs, ``(host, port)`` pairs, or dicts, where a dict
    with ``sentinels`` and ``master_name`` finds its Redis through Sentinel
    (``sentinel_hosts`` builds those). Two or more entries shard the layer.
    The keyword arguments below go into every entry, unless the entry sets
    them itself.

    - redis-py 8 defaults ``socket_timeout`` to 5 s, the same as the layer's
      BZPOPMIN timeout, so every idle receive() dies with TimeoutError and its
      socket closes with 1011 (channels-redis #422, redis-py #4091). A timeout
      above the pop timeout keeps idle sockets alive and still notices a dead
      Redis.
    - All consumers of a process share one inbox, and the default capacity of
      100 drops messages past it; sync and heartbeats recover what is dropped,
      but a capacity sized for bursts avoids the drops.
    - redis-py's async pool raises MaxConnectionsError instead of waiting when
      it is exhausted (default 100), which a connect storm reaches.
    - redis-py 8 looks its own version up with importlib.metadata for every
      new connection (DriverInfo), which a connect storm pays once per
      connection on the server's one core. Passing the version
      (``driver_info``, or ``lib_version`` before redis-py 7.1) skips it.
    - A sentinel that does not answer would hold a connect for redis-py's
      default timeouts; its queries get ``socket_connect_timeout`` for both.
    """
    if not hosts:
        raise ValueError("redis_channel_layer needs at least one Redis host.")
    options = {
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": socket_connect_timeout,
        "max_connections": max_connections,
        **_driver_info(),
    }
    entries = []
    for host in decode_hosts([hosts] if isinstance(hosts, str) else list(hosts)):
        entry = {**options, **host}
        if "master_name" in entry:
            if not entry.get("sentinels"):
                raise ValueError(f"The Sentinel host for {entry['master_name']!r} lists no sentinels.")
            timeouts = {"socket_timeout": socket_connect_timeout, "socket_connect_timeout": socket_connect_timeout}
            entry["sentinel_kwargs"] = {**timeouts, **(entry.get("sentinel_kwargs") or {})}
        timeout = entry["socket_timeout"]
        if timeout is not None and timeout <= CHANNELS_REDIS_POP_TIMEOUT:
            raise ValueError(
                f"socket_timeout must exceed the channels-redis pop timeout "
                f"({CHANNELS_REDIS_POP_TIMEOUT} s), or idle sockets die after it."
            )
        entries.append(entry)
    return {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": entries,
            "capacity": capacity,
            "expiry": expiry,
            "group_expiry": group_expiry,
            "prefix": prefix,
        },
    }
