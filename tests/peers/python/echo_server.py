"""Echo server on Python `websockets`: a reference peer for weft's interop tests and for
`cargo xtask autobahn --server-cmd` (installed by `cargo xtask peers` into target/peers/python).

usage: echo_server.py [ADDR] [--compression on|off] [--max-size BYTES] [--max-fragments N]
                      [--fragment-size BYTES] [--close-after N] [--close-code CODE]
                      [--close-reason TEXT] [--report]
                      [--server-no-context-takeover] [--client-no-context-takeover]
                      [--server-max-window-bits BITS] [--client-max-window-bits BITS]

ADDR is PORT or HOST:PORT (default 127.0.0.1:0, an ephemeral port). Once listening, prints one
line `listening on ws://HOST:PORT` (with the real port) and serves until SIGTERM/SIGINT. Every
text or binary message is sent back unchanged with the same type, in frames of at most
--fragment-size bytes if given; pings, closes and permessage-deflate are websockets' own
behaviour. With --close-after N, the server closes each connection with --close-code (default
1000) and --close-reason after echoing N messages. With --report, it prints one JSON line per
connection once it has closed: {"messages": ..., "close_code": ..., "close_reason": ...,
"extensions_header": ..., "extensions_offer": ...}, with the close code and reason the client
sent (1005: none, 1006: no close frame) and the Sec-WebSocket-Extensions headers of the
server's response and of the client's request (or null).
Default limits are what Autobahn needs: messages up to 32 MiB (9.1.6 and 9.2.6 send 16 MiB)
and 1 Mi fragments per message (9.3.* and 9.4.* send up to 65,536). permessage-deflate
parameters (--server-no-context-takeover and the others) replace websockets' defaults with
ServerPerMessageDeflateFactory(those parameters). --close-code 1005 sends a close frame without
a code.
"""
import argparse
import asyncio
import json
import os
import signal
import sys

import peer_messages
from peer_args import (
    add_deflate_options,
    add_message_options,
    address,
    close_code_to_send,
    deflate_parameters,
    on_off,
)

ARGS = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ARGS.add_argument("addr", nargs="?", default="127.0.0.1:0", type=address)
ARGS.add_argument("--compression", default="on", type=on_off, help="permessage-deflate (default on)")
ARGS.add_argument("--max-size", type=int, default=32 * 1024 * 1024, help="largest message in bytes")
ARGS.add_argument("--max-fragments", type=int, default=1 << 20, help="most frames per message")
ARGS.add_argument("--close-after", type=int, default=None, metavar="N",
                  help="close each connection after echoing N messages")
ARGS.add_argument("--report", action="store_true", help="print a JSON line per closed connection")
add_message_options(ARGS)
add_deflate_options(ARGS)
OPTIONS = ARGS.parse_args()

# websockets 14+ refuses messages of more than 4096 fragments unless told otherwise; the limit is
# read from the environment when websockets is imported.
os.environ["WEBSOCKETS_MAX_FRAGMENTS"] = str(OPTIONS.max_fragments)

from websockets.asyncio.server import serve  # noqa: E402  (after the environment is set)
from websockets.exceptions import WebSocketException  # noqa: E402
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory  # noqa: E402


async def echo(ws):
    messages = 0
    try:
        if OPTIONS.close_after != 0:
            async for message in ws:
                await peer_messages.send(ws, message, OPTIONS.fragment_size)
                messages += 1
                if messages == OPTIONS.close_after:
                    break
        if OPTIONS.close_after is not None:
            await ws.close(close_code_to_send(OPTIONS), OPTIONS.close_reason)
    except WebSocketException:
        pass
    if OPTIONS.report:
        await ws.wait_closed()
        received = ws.protocol.close_rcvd
        print(json.dumps({
            "messages": messages,
            "close_code": received.code if received else 1006,
            "close_reason": received.reason if received else "",
            "extensions_header": ws.response.headers.get("Sec-WebSocket-Extensions"),
            "extensions_offer": ws.request.headers.get("Sec-WebSocket-Extensions"),
        }), flush=True)


def compression_options():
    parameters = deflate_parameters(OPTIONS)
    if parameters is not None and OPTIONS.compression:
        factory = ServerPerMessageDeflateFactory(compress_settings={"memLevel": 5}, **parameters)
        return {"extensions": [factory], "compression": None}
    return {"compression": "deflate" if OPTIONS.compression else None}


async def main():
    host, port = OPTIONS.addr
    async with serve(echo, host, port, max_size=OPTIONS.max_size, **compression_options()) as server:
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
