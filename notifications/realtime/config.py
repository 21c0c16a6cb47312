"""A CHANNEL_LAYERS entry for channels-redis with the measured traps handled."""

from typing import Any

# channels-redis blocks in BZPOPMIN for this long per receive() call.
CHANNELS_REDIS_POP_TIMEOUT = 5


def _driver_info() -> dict[str, Any]:
    """Connection options that spare redis-py its per-connection version lookup."""
    import redis

    version = getattr(redis, "__version__", "unknown")
    try:
        from redis.driver_info import DriverInfo  # redis-py 7.1+
    except ImportError:
        return {"lib_version": version}
    return {"driver_info": DriverInfo(lib_version=version)}


def redis_channel_layer(
    url: str,
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
      new connection (DriverInfo), about 1.4 ms of CPU each: in a 2,000-socket
      connect storm, 2.8 s of the server's one core. Passing the version
      (``driver_info``, or ``lib_version`` before redis-py 7.1) skips it.
    """
    if socket_timeout <= CHANNELS_REDIS_POP_TIMEOUT:
        raise ValueError(
            f"socket_timeout must exceed the channels-redis pop timeout "
            f"({CHANNELS_REDIS_POP_TIMEOUT} s), or idle sockets die after it."
        )
    return {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [
                {
                    "address": url,
                    "socket_timeout": socket_timeout,
                    "socket_connect_timeout": socket_connect_timeout,
                    "max_connections": max_connections,
                    **_driver_info(),
                }
            ],
            "capacity": capacity,
            "expiry": expiry,
            "group_expiry": group_expiry,
            "prefix": prefix,
        },
    }
