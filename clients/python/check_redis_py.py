#!/usr/bin/env python3
"""Checks redis-py (Debian's python3-redis) against a raftkv node.

Usage: check_redis_py.py HOST PORT [PROTOCOL]

Exits 0 and prints "ok" when every assertion holds; otherwise prints the
failing check and exits 1. Run by compat's TestClients (Go), against the
leader and a follower of a 3-node cluster.
"""
import sys
import warnings

import redis


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    warnings.simplefilter("error")  # a client warning fails the check
    prefix = "py:%d:" % port
    r = redis.Redis(host=host, port=port, socket_timeout=10, retry_on_timeout=False)

    assert r.ping() is True
    assert r.flushdb() is True
    assert r.set(prefix + "s", "v") is True
    assert r.get(prefix + "s") == b"v"
    # redis-py sends INCRBY key 1 for incr().
    assert r.incr(prefix + "n") == 1
    assert r.incr(prefix + "n", 5) == 6
    assert r.decr(prefix + "n") == 5
    assert r.incrbyfloat(prefix + "f", 1.5) == 1.5
    assert r.set(prefix + "t", "x", ex=1000) is True
    ttl = r.ttl(prefix + "t")
    assert 990 <= ttl <= 1000, ttl
    assert r.persist(prefix + "t") is True
    assert r.ttl(prefix + "t") == -1
    binary = b"a\r\nb\x00c\xff"
    r.set(prefix + "bin", binary)
    assert r.get(prefix + "bin") == binary
    assert r.mset({prefix + "m1": "1", prefix + "m2": "2"}) is True
    assert r.mget([prefix + "m1", prefix + "m2", prefix + "none"]) == [b"1", b"2", None]
    assert r.hset(prefix + "h", mapping={"a": "1", "b": "2"}) == 2
    assert r.hgetall(prefix + "h") == {b"a": b"1", b"b": b"2"}
    assert r.hincrby(prefix + "h", "a", 10) == 11
    assert sorted(r.hkeys(prefix + "h")) == [b"a", b"b"]
    assert r.exists(prefix + "s", prefix + "h", prefix + "none") == 2
    assert r.type(prefix + "h") == b"hash"
    keys = set(r.scan_iter(match=prefix + "m*", count=2))
    assert keys == {(prefix + "m1").encode(), (prefix + "m2").encode()}, keys

    try:
        r.incr(prefix + "h")
        raise AssertionError("INCR on a hash must fail")
    except redis.ResponseError as e:
        assert str(e).startswith("WRONGTYPE"), e

    pipe = r.pipeline(transaction=False)
    for i in range(50):
        pipe.set(prefix + "p%d" % i, i)
    pipe.get(prefix + "p49")
    res = pipe.execute()
    assert res[:50] == [True] * 50 and res[50] == b"49", res[-3:]

    pipe = r.pipeline(transaction=True)
    pipe.incr(prefix + "tx").incr(prefix + "tx").get(prefix + "tx")
    assert pipe.execute() == [1, 2, b"2"]

    # Optimistic locking: WATCH, then MULTI/EXEC.
    with r.pipeline() as pipe:
        pipe.watch(prefix + "w")
        current = int(pipe.get(prefix + "w") or 0)
        pipe.multi()
        pipe.set(prefix + "w", current + 1)
        assert pipe.execute() == [True]
    assert r.get(prefix + "w") == b"1"

    other = redis.Redis(host=host, port=port, socket_timeout=10)
    with r.pipeline() as pipe:
        pipe.watch(prefix + "w")
        other.set(prefix + "w", "changed")
        pipe.multi()
        pipe.set(prefix + "w", "mine")
        try:
            pipe.execute()
            raise AssertionError("EXEC must abort after a watched key changed")
        except redis.WatchError:
            pass
    assert r.get(prefix + "w") == b"changed"

    assert r.client_setname("pyclient") is True
    assert r.client_getname() == "pyclient" or r.client_getname() == b"pyclient"
    info = r.info()
    assert info["redis_version"].startswith("7."), info.get("redis_version")
    assert "role" in r.info("replication")
    assert r.dbsize() >= 50
    assert r.delete(prefix + "s", prefix + "none") == 1
    other.connection_pool.disconnect()
    r.connection_pool.disconnect()
    print("ok")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001 - report any failure with its line
        import traceback
        traceback.print_exc()
        print("FAIL: %r" % (e,))
        sys.exit(1)
