"""A WebSocket echo app (ASGI) served by hypercorn, which speaks HTTP/1.1 and HTTP/2: h2 by ALPN
over TLS, and h2c with prior knowledge over cleartext. WebSockets over HTTP/2 (RFC 8441) go
through hypercorn's h2 and wsproto, with permessage-deflate.

usage: hypercorn_echo.py [--certfile CERT --keyfile KEY]

Binds 127.0.0.1 on a port the OS picks and prints exactly one line once it listens:
    listening on PORT
Every WebSocket is accepted (with the first subprotocol offered, if any) and every text and
binary message echoed; a text message "close CODE REASON" makes the server close with that code
and reason instead. When a WebSocket ends, one JSON line goes to stdout:
    {"path": ..., "http_version": ..., "close_code": ..., "closed_by": "client"|"server"}
(hypercorn tells an app 1006 for every close the client started, whatever its code; wsproto
echoes the client's code on the wire.)
Plain HTTP requests get 404. Stops on SIGTERM or SIGINT.
"""

import argparse
import asyncio
import json
import signal
import socket
import sys

from hypercorn.asyncio import serve
from hypercorn.config import Config


def report(scope, close_code, closed_by):
    line = {
        "path": scope["path"],
        "http_version": scope["http_version"],
        "close_code": close_code,
        "closed_by": closed_by,
    }
    print(json.dumps(line), flush=True)


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            event = await receive()
            if event["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif event["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b"not found\n"})
        return
    event = await receive()
    assert event["type"] == "websocket.connect", event
    accept = {"type": "websocket.accept"}
    if scope.get("subprotocols"):
        accept["subprotocol"] = scope["subprotocols"][0]
    await send(accept)
    while True:
        event = await receive()
        if event["type"] == "websocket.disconnect":
            report(scope, event.get("code"), "client")
            return
        text = event.get("text")
        if text is not None and text.startswith("close "):
            _, code, reason = text.split(" ", 2)
            await send({"type": "websocket.close", "code": int(code), "reason": reason})
            report(scope, int(code), "server")
            return
        if text is not None:
            await send({"type": "websocket.send", "text": text})
        else:
            await send({"type": "websocket.send", "bytes": event["bytes"]})


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--certfile")
    parser.add_argument("--keyfile")
    args = parser.parse_args()

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    # Listening before the banner: a client may connect as soon as it reads the port, before
    # hypercorn has started serving (connections wait in the backlog).
    sock.listen(128)
    sock.set_inheritable(True)
    config = Config()
    config.bind = [f"fd://{sock.fileno()}"]
    config.accesslog = None
    config.errorlog = "-"
    config.loglevel = "WARNING"
    config.websocket_max_message_size = 32 << 20
    if args.certfile:
        config.certfile = args.certfile
        config.keyfile = args.keyfile
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"listening on {sock.getsockname()[1]}", flush=True)
    await serve(app, config, shutdown_trigger=stop.wait)


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
