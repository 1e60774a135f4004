"""Client on Python `websockets`: a reference peer for weft's interop tests and for
`cargo xtask autobahn --client-cmd` (installed by `cargo xtask peers` into target/peers/python).

usage: echo_client.py URL [--mode echo|await-close|autobahn] [--compression on|off]
                      [--agent NAME] [--messages N] [--size BYTES[,BYTES...]]
                      [--binary pattern|random] [--fragment-size BYTES] [--close-code CODE] [--close-reason TEXT]
                      [--max-size BYTES] [--max-fragments N]
                      [--server-no-context-takeover] [--client-no-context-takeover]
                      [--server-max-window-bits BITS] [--client-max-window-bits BITS]

--mode echo (default): connect to URL (an echo server); for each SIZE, send N text messages
  (UTF-8 with non-ASCII characters) and N binary messages of exactly SIZE bytes, each in frames
  of at most --fragment-size bytes if given; check that each comes back unchanged and with the
  same type (--binary random: binary messages of random bytes, which DEFLATE makes larger);
  close with --close-code (default 1000) and --close-reason; print one JSON line:
  {"ok": ..., "messages": ..., "close_code": ..., "close_reason": ..., "extensions": [...],
  "extensions_header": ..., "error": ...}, where close_code and close_reason are from the
  server's close frame, extensions_header is the Sec-WebSocket-Extensions header of the
  server's response (or null) and error is what the library raised (or null; a refused
  handshake, for instance). Exit 0 only if every echo matched and the server answered the
  close.
--mode await-close: the same echoes, then wait for the server to close the connection, answer
  its close and print the same JSON line; ok if the server closed with a close frame.
--mode autobahn: drive wstest's fuzzingserver at URL: GET /getCaseCount, then
  /runCase?case=I&agent=NAME for I in 1..count (echoing every message until the server closes;
  a failing case does not stop the loop), then /updateReports?agent=NAME.
Limits default to what Autobahn needs: 32 MiB messages, 2^20 fragments per message.
permessage-deflate parameters (--server-no-context-takeover and the others) replace
websockets' default offer with ClientPerMessageDeflateFactory(those parameters).
--close-code 1005 sends a close frame without a code.
"""
import argparse
import asyncio
import json
import os
import sys

import peer_messages
from peer_args import (
    add_deflate_options,
    add_message_options,
    close_code_to_send,
    deflate_parameters,
    on_off,
    sizes,
)

ARGS = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ARGS.add_argument("url")
ARGS.add_argument("--mode", choices=["echo", "await-close", "autobahn"], default="echo")
ARGS.add_argument("--compression", default="on", type=on_off, help="offer permessage-deflate")
ARGS.add_argument("--agent", default="websockets", help="agent name (autobahn mode)")
ARGS.add_argument("--messages", type=int, default=10, help="messages of each type and size")
ARGS.add_argument("--size", type=sizes, default=[1000], help="message sizes in bytes")
ARGS.add_argument("--binary", choices=["pattern", "random"], default="pattern",
                  help="content of the binary messages")
ARGS.add_argument("--max-size", type=int, default=32 * 1024 * 1024)
ARGS.add_argument("--max-fragments", type=int, default=1 << 20)
add_message_options(ARGS)
add_deflate_options(ARGS)
OPTIONS = ARGS.parse_args()
os.environ["WEBSOCKETS_MAX_FRAGMENTS"] = str(OPTIONS.max_fragments)

from websockets.asyncio.client import connect  # noqa: E402  (after the environment is set)
from websockets.exceptions import ConnectionClosed, WebSocketException  # noqa: E402
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory  # noqa: E402


def connect_to(url, **kwargs):
    parameters = deflate_parameters(OPTIONS)
    if parameters is not None and OPTIONS.compression:
        factory = ClientPerMessageDeflateFactory(compress_settings={"memLevel": 5}, **parameters)
        kwargs.update(extensions=[factory], compression=None)
    else:
        kwargs.update(compression="deflate" if OPTIONS.compression else None)
    return connect(url, max_size=OPTIONS.max_size, **kwargs)


async def echoes(ws, result):
    """Sends every message and checks its echo, counting in `result`; returns whether all
    matched."""
    ok = True
    for size in OPTIONS.size:
        for i in range(OPTIONS.messages):
            binary = peer_messages.binary(i, size, OPTIONS.binary)
            for message in (peer_messages.text(i, size), binary):
                await peer_messages.send(ws, message, OPTIONS.fragment_size)
                result["messages"] += 1
                echoed = await ws.recv()
                if echoed != message:
                    ok = False
    return ok


async def echo_mode():
    result = {
        "ok": False,
        "messages": 0,
        "close_code": None,
        "close_reason": None,
        "extensions": [],
        "extensions_header": None,
        "error": None,
    }
    ok = False
    try:
        async with connect_to(OPTIONS.url) as ws:
            result["extensions"] = [e.name for e in ws.protocol.extensions]
            result["extensions_header"] = ws.response.headers.get("Sec-WebSocket-Extensions")
            try:
                ok = await echoes(ws, result)
                if OPTIONS.mode == "echo":
                    await ws.close(close_code_to_send(OPTIONS), OPTIONS.close_reason)
                else:
                    # Anything but the server's close is unexpected here.
                    while True:
                        await ws.recv()
                        ok = False
            except ConnectionClosed:
                pass
            await ws.wait_closed()
            received = ws.protocol.close_rcvd
            if received:
                result["close_code"] = received.code
                result["close_reason"] = received.reason
    except Exception as err:  # noqa: BLE001  (reported, whatever the library raised)
        result["error"] = f"{type(err).__name__}: {err}"
    result["ok"] = ok and result["close_code"] is not None and result["error"] is None
    print(json.dumps(result), flush=True)
    return 0 if result["ok"] else 1


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
    sys.exit(asyncio.run(autobahn_mode() if OPTIONS.mode == "autobahn" else echo_mode()))
