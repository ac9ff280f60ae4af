"""Scale of swaplint.runtime: spawn rate, message throughput, memory, purge time.

Run:  python benchmarks/runtime_bench.py [--procs 10000] [--messages 300000]

Targets (2-core machine): >= 300,000 messages/s through a real loop,
<= 10 KB per idle process, hard-purge load over 10,000 idle processes (half
in old code) under 0.5 s.  Not a test: it prints numbers, best of --repeat.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import time
import tracemalloc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import greenlet

from swaplint.runtime import Runtime

LOOP = """\
from swaplint.runtime import ANY, receive, send, spawn_link, trap_exit, TIMEOUT
import bench

def server_loop(n):
    msg = receive()
    if msg == "switch_code":
        return bench.server_loop(n)
    return server_loop(n + 1)

def idle_loop(n):
    msg = receive(timeout=3600)
    if msg == "switch_code" or msg is TIMEOUT:
        return bench.idle_loop(n)
    return idle_loop(n + 1)

def ping(peer, n):
    if n == 0:
        return n
    send(peer, n)
    receive()
    return ping(peer, n - 1)

def pong(peer):
    msg = receive()
    send(peer, msg)
    return pong(peer)

def count(out, n):
    msg = receive()
    if msg == "report":
        out.append(n)
        return count(out, n)
    return count(out, n + 1)

def pick(out, n):
    msg = receive(match=("job", ANY))
    if msg[1] == "report":
        out.append(n)
        return pick(out, n)
    return pick(out, n + 1)

def trapper(out, n):
    trap_exit(True)
    for _ in range(n):
        spawn_link(idle_forever)
    return reap(out, n)

def reap(out, n):
    if n == 0:
        out.append("done")
        return None
    receive(match=("EXIT", ANY, ANY))
    return reap(out, n - 1)

def idle_forever():
    receive()
    return idle_forever()
"""


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def best(fn, repeat):
    results = [fn() for _ in range(repeat)]
    return min(results, key=lambda r: r[0])


def bench_spawn(n):
    rt = Runtime(trace=False)
    rt.load("bench", LOOP)
    t0 = time.perf_counter()
    for _ in range(n):
        rt.spawn("bench", "server_loop", 0)
    rt.run()  # every process starts and blocks in receive
    return (time.perf_counter() - t0, n)


def bench_bulk(n, trace):
    rt = Runtime(trace=trace)
    rt.load("bench", LOOP)
    out: list = []
    pid = rt.spawn("bench", "count", out, 0)
    rt.run()
    t0 = time.perf_counter()
    for i in range(n):
        rt.send(pid, i)
    rt.send(pid, "report")
    rt.run()
    dt = time.perf_counter() - t0
    assert out == [n], out
    return (dt, n)


def bench_fanout(procs, per):
    rt = Runtime(trace=False)
    rt.load("bench", LOOP)
    outs = [[] for _ in range(procs)]
    pids = [rt.spawn("bench", "count", out, 0) for out in outs]
    rt.run()
    t0 = time.perf_counter()
    for _ in range(per):  # interleaved: every process wakes up once per round
        for pid in pids:
            rt.send(pid, 1)
        rt.run()
    dt = time.perf_counter() - t0
    for pid in pids:
        rt.send(pid, "report")
    rt.run()
    assert all(out == [per] for out in outs)
    return (dt, procs * per)


def bench_pingpong(n):
    """Two processes bounce a message: every delivery is a process switch."""
    rt = Runtime(trace=False)
    rt.load("bench", LOOP)
    mod = rt.module("bench")
    ping_pid: list = []

    def start_pong():  # pong needs the pinger's pid, known once it is spawned
        return mod.pong(ping_pid[0])

    pong = rt.spawn_fun(start_pong)
    ping = rt.spawn_fun(mod.ping, pong, n)
    ping_pid.append(ping)
    t0 = time.perf_counter()
    rt.run()
    dt = time.perf_counter() - t0
    assert rt.exit_reason(ping) == "normal"
    return (dt, 2 * n)  # every round trip delivers two messages


def bench_selective(n, noise):
    """Selective receive: every match is found behind *noise* queued
    messages that never match (they stay in the save queue)."""
    rt = Runtime(trace=False)
    rt.load("bench", LOOP)
    out: list = []
    pid = rt.spawn("bench", "pick", out, 0)
    for i in range(noise):
        rt.send(pid, ("noise", i))
    rt.run()
    t0 = time.perf_counter()
    for i in range(n):
        rt.send(pid, ("job", i))
    rt.send(pid, ("job", "report"))
    rt.run()
    dt = time.perf_counter() - t0
    assert out == [n] and len(rt.mailbox(pid)) == noise
    return (dt, n)


def bench_links(n):
    """spawn_link n processes, kill them all: n exit signals become EXIT messages."""
    rt = Runtime(trace=False)
    rt.load("bench", LOOP)
    out: list = []
    parent = rt.spawn("bench", "trapper", out, n)
    rt.run()
    children = [p for p in rt.links(parent)]
    t0 = time.perf_counter()
    for pid in children:
        rt.exit(pid, "kill")
    rt.run()
    dt = time.perf_counter() - t0
    assert out == ["done"] and len(children) == n
    return (dt, n)


def bench_memory(n, message):
    """RSS and tracemalloc growth per idle process (blocked in a receive with
    a timeout).  With *message*, each process first handles one message, so
    it also holds its (empty) mailbox deque.  Run first, in a fresh heap:
    memory freed by earlier benchmarks would be reused and hide the cost."""
    rt = Runtime(trace=False)
    rt.load("bench", LOOP)
    gc.collect()
    rss0 = rss_bytes()
    tracemalloc.start()
    snap0 = tracemalloc.take_snapshot()
    pids = [rt.spawn("bench", "idle_loop", 0) for _ in range(n)]
    if message:
        for pid in pids:
            rt.send(pid, 1)
    rt.run()
    del pids
    gc.collect()
    snap1 = tracemalloc.take_snapshot()
    traced = sum(s.size_diff for s in snap1.compare_to(snap0, "filename"))
    tracemalloc.stop()
    rss1 = rss_bytes()
    assert len(rt.alive()) == n
    return (rss1 - rss0) / n, traced / n, rt


def bench_purge(n):
    rt = Runtime(trace=False)
    rt.load("bench", LOOP)
    old = [rt.spawn("bench", "server_loop", 0) for _ in range(n // 2)]
    rt.run()
    rt.load("bench", LOOP)
    new = [rt.spawn("bench", "server_loop", 0) for _ in range(n - n // 2)]
    rt.run()
    gc.collect()
    t0 = time.perf_counter()
    rt.load("bench", LOOP)  # purge v1: kills the old half
    dt = time.perf_counter() - t0
    killed = sum(1 for p in old if rt.exit_reason(p) == "killed")
    survived = sum(1 for p in new if rt.is_alive(p))
    assert killed == len(old) and survived == len(new)
    return dt, killed, survived


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--procs", type=int, default=10_000)
    ap.add_argument("--messages", type=int, default=300_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    n, m = args.procs, args.messages

    print(
        f"swaplint.runtime benchmark -- Python {platform.python_version()}, "
        f"greenlet {greenlet.__version__}, {os.cpu_count()} CPUs, best of {args.repeat}"
    )
    keep = []
    for message, label in ((False, "fresh"), (True, "after 1 message")):
        per_rss, per_traced, rt = bench_memory(n, message)
        keep.append(rt)
        print(
            f"memory per idle process ({label:15}): {per_rss / 1024:6.2f} KB RSS delta, "
            f"{per_traced / 1024:.2f} KB tracemalloc  ({n:,} processes)"
        )
    del keep, rt
    gc.collect()
    dt, k = best(lambda: bench_spawn(n), args.repeat)
    print(f"spawn + start to first receive : {k / dt:12,.0f} processes/s  ({k:,} in {dt:.3f} s)")
    dt, k = best(lambda: bench_bulk(m, False), args.repeat)
    print(f"messages, one loop, trace off  : {k / dt:12,.0f} messages/s  ({k:,} in {dt:.3f} s)")
    dt, k = best(lambda: bench_bulk(m, True), args.repeat)
    print(f"messages, one loop, trace on   : {k / dt:12,.0f} messages/s  ({k:,} in {dt:.3f} s)")
    dt, k = best(lambda: bench_fanout(1000, max(1, m // 1000)), args.repeat)
    print(f"messages, 1000 loops round-robin: {k / dt:11,.0f} messages/s  ({k:,} in {dt:.3f} s)")
    dt, k = best(lambda: bench_pingpong(m // 2), args.repeat)
    print(f"messages, ping-pong (a switch each): {k / dt:8,.0f} messages/s  ({k:,} in {dt:.3f} s)")
    dt, k = best(lambda: bench_selective(m // 3, 100), args.repeat)
    print(f"selective receive, 100 queued non-matching: {k / dt:6,.0f} messages/s  ({k:,} in {dt:.3f} s)")
    dt, k = best(lambda: bench_links(n), args.repeat)
    print(f"kill a linked process -> EXIT message: {k / dt:9,.0f} processes/s  ({k:,} in {dt:.3f} s)")
    results = [bench_purge(n) for _ in range(args.repeat)]
    dt, killed, survived = min(results)
    print(
        f"hard-purge load over {n:,} idle  : {dt:8.3f} s  (killed {killed:,} in old code, "
        f"{survived:,} in current code survived)"
    )


if __name__ == "__main__":
    main()
