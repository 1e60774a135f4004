"""Client on Python `websockets`: a reference peer for weft's interop tests and for
`cargo xtask autobahn --client-cmd` (installed by `cargo xtask peers` into target/peers/python).

usage: echo_client.py URL [--mode echo|autobahn] [--compression on|off] [--agent NAME]
                      [--messages N] [--size BYTES] [--max-size BYTES] [--max-fragments N]

--mode echo (default): connect to URL (an echo server), send N text and N binary messages of
  SIZE bytes with known content, check that each comes back unchanged and with the same type,
  close with 1000, and print one JSON line: {"ok": ..., "messages": ..., "close_code": ...,
  "extensions": ...}. Exit 0 only if every echo matched and the close was clean.
--mode autobahn: drive wstest's fuzzingserver at URL: GET /getCaseCount, then
  /runCase?case=I&agent=NAME for I in 1..count (echoing every message until the server closes;
  a failing case does not stop the loop), then /updateReports?agent=NAME.
Limits default to what Autobahn needs: 32 MiB messages, 2^20 fragments per message.
"""
import argparse
import asyncio
import json
import os
import sys

from peer_args import on_off

ARGS = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ARGS.add_argument("url")
ARGS.add_argument("--mode", choices=["echo", "autobahn"], default="echo")
ARGS.add_argument("--compression", default="on", type=on_off, help="offer permessage-deflate")
ARGS.add_argument("--agent", default="websockets", help="agent name (autobahn mode)")
ARGS.add_argument("--messages", type=int, default=10, help="messages of each type (echo mode)")
ARGS.add_argument("--size", type=int, default=1000, help="message size in bytes (echo mode)")
ARGS.add_argument("--max-size", type=int, default=32 * 1024 * 1024)
ARGS.add_argument("--max-fragments", type=int, default=1 << 20)
OPTIONS = ARGS.parse_args()
os.environ["WEBSOCKETS_MAX_FRAGMENTS"] = str(OPTIONS.max_fragments)

from websockets.asyncio.client import connect  # noqa: E402  (after the environment is set)
from websockets.exceptions import ConnectionClosed, WebSocketException  # noqa: E402


def connect_to(url, **kwargs):
    compression = "deflate" if OPTIONS.compression else None
    return connect(url, max_size=OPTIONS.max_size, compression=compression, **kwargs)


def payload(i, size):
    """Deterministic, somewhat compressible, valid UTF-8 (ASCII) content."""
    pattern = f"weft interop message {i}: the quick brown fox jumps over the lazy dog. "
    return (pattern * (size // len(pattern) + 1))[:size]


async def echo_mode():
    ok = True
    sent = 0
    async with connect_to(OPTIONS.url) as ws:
        extensions = [e.name for e in ws.protocol.extensions]
        for i in range(OPTIONS.messages):
            for message in (payload(i, OPTIONS.size), payload(i, OPTIONS.size).encode()):
                await ws.send(message)
                sent += 1
                echoed = await ws.recv()
                if echoed != message:
                    ok = False
        await ws.close(1000)
        close_code = ws.protocol.close_rcvd.code if ws.protocol.close_rcvd else None
    ok = ok and close_code == 1000
    print(json.dumps({"ok": ok, "messages": sent, "close_code": close_code, "extensions": extensions}), flush=True)
    return 0 if ok else 1


async def autobahn_mode():
    base = OPTIONS.url.rstrip("/")
    async with connect_to(f"{base}/getCaseCount") as ws:
        count = json.loads(await ws.recv())
    print(f"{count} cases", flush=True)
    for case in range(1, count + 1):
        try:
            async with connect_to(f"{base}/runCase?case={case}&agent={OPTIONS.agent}") as ws:
                async for message in ws:
                    await ws.send(message)
        except ConnectionClosed:
            pass
        except (WebSocketException, OSError) as err:  # one broken case must not stop the run
            print(f"case {case}: {type(err).__name__}: {err}", flush=True)
    async with connect_to(f"{base}/updateReports?agent={OPTIONS.agent}", open_timeout=120) as ws:
        try:
            await ws.recv()
        except ConnectionClosed:
            pass
    print("reports updated", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(echo_mode() if OPTIONS.mode == "echo" else autobahn_mode()))
