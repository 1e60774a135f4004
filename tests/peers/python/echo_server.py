"""Echo server on Python `websockets`: a reference peer for weft's interop tests and for
`cargo xtask autobahn --server-cmd` (installed by `cargo xtask peers` into target/peers/python).

usage: echo_server.py [ADDR] [--compression on|off] [--max-size BYTES] [--max-fragments N]

ADDR is PORT or HOST:PORT (default 127.0.0.1:0, an ephemeral port). Once listening, prints one
line `listening on ws://HOST:PORT` (with the real port) and serves until SIGTERM/SIGINT. Every
text or binary message is sent back unchanged with the same type; pings, closes and
permessage-deflate are websockets' own behaviour. Default limits are what Autobahn needs:
messages up to 32 MiB (9.1.6 and 9.2.6 send 16 MiB) and 1 Mi fragments per message (9.3.* and
9.4.* send up to 65,536).
"""
import argparse
import asyncio
import os
import signal
import sys

from peer_args import address, on_off

ARGS = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ARGS.add_argument("addr", nargs="?", default="127.0.0.1:0", type=address)
ARGS.add_argument("--compression", default="on", type=on_off, help="permessage-deflate (default on)")
ARGS.add_argument("--max-size", type=int, default=32 * 1024 * 1024, help="largest message in bytes")
ARGS.add_argument("--max-fragments", type=int, default=1 << 20, help="most frames per message")
OPTIONS = ARGS.parse_args()

# websockets 14+ refuses messages of more than 4096 fragments unless told otherwise; the limit is
# read from the environment when websockets is imported.
os.environ["WEBSOCKETS_MAX_FRAGMENTS"] = str(OPTIONS.max_fragments)

from websockets.asyncio.server import serve  # noqa: E402  (after the environment is set)
from websockets.exceptions import WebSocketException  # noqa: E402


async def echo(ws):
    try:
        async for message in ws:
            await ws.send(message)
    except WebSocketException:
        pass


async def main():
    host, port = OPTIONS.addr
    compression = "deflate" if OPTIONS.compression else None
    async with serve(echo, host, port, max_size=OPTIONS.max_size, compression=compression) as server:
        bound = server.sockets[0].getsockname()
        print(f"listening on ws://{bound[0]}:{bound[1]}", flush=True)
        stop = asyncio.get_running_loop().create_future()
        for sig in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(sig, stop.cancel)
        try:
            await stop
        except asyncio.CancelledError:
            pass


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
