"""A fast webhook receiver for the drain bench: asyncio, HTTP/1.1 keep-alive, answers 200 at once
(or after ``--delay`` seconds, without holding a thread: the slow target), counts requests and
distinct ``Idempotency-Key`` values (of each item, for a batched target's JSON arrays: ``events``
counts the events those carry).

``python -m bench.instant_receiver --port N [--delay 0.2] [--stats FILE]``: every half second it
rewrites FILE with ``{"requests", "events", "keys", "max_in_flight", "busiest_second"}`` (the most
requests that arrived within any one second). It checks nothing (the tests' fake
receivers check the contract): the point is a target that costs as little as possible, so the
figure measured is the sender's.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import signal
import time
from pathlib import Path

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


class Receiver:
    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.requests = 0
        self.events = 0
        self.keys: set[str] = set()
        self.in_flight = 0
        self.max_in_flight = 0
        self.recent: collections.deque[float] = collections.deque()  # arrivals in the last second
        self.busiest_second = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length, key = 0, ""
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    lowered = name.strip().lower()
                    if lowered == b"content-length":
                        length = int(value.strip() or 0)
                    elif lowered == b"idempotency-key":
                        key = value.strip().decode()
                body = await reader.readexactly(length) if length else b""
                self.requests += 1
                if body[:1] == b"[":  # a batched target's array: an idempotencyKey per item
                    items = json.loads(body)
                    self.events += len(items)
                    self.keys.update(item.get("idempotencyKey", "") for item in items)
                else:
                    self.events += 1
                    self.keys.add(key)
                now = time.monotonic()
                self.recent.append(now)
                while self.recent[0] <= now - 1.0:
                    self.recent.popleft()
                self.busiest_second = max(self.busiest_second, len(self.recent))
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
                try:
                    if self.delay:
                        await asyncio.sleep(self.delay)
                    writer.write(RESPONSE)
                    await writer.drain()
                finally:
                    self.in_flight -= 1
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    def stats(self) -> dict[str, int]:
        return {
            "requests": self.requests,
            "events": self.events,
            "keys": len(self.keys),
            "max_in_flight": self.max_in_flight,
            "busiest_second": self.busiest_second,
        }


async def main_async(port: int, delay: float, stats_path: Path | None) -> None:
    receiver = Receiver(delay)
    server = await asyncio.start_server(receiver.serve, "127.0.0.1", port, backlog=1024)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"listening on http://127.0.0.1:{port}/hook", flush=True)
    async with server:
        while not stop.is_set():
            if stats_path is not None:
                partial = stats_path.with_suffix(".tmp")
                partial.write_text(json.dumps(receiver.stats()))
                os.replace(partial, stats_path)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=0.5)
    if stats_path is not None:
        stats_path.write_text(json.dumps(receiver.stats()))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--stats", type=Path, help="file rewritten with the counts twice a second")
    args = parser.parse_args(argv)
    asyncio.run(main_async(args.port, args.delay, args.stats))


if __name__ == "__main__":
    main()
