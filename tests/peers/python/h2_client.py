"""A raw HTTP/2 client built on Python's `h2` (the sans-IO HTTP/2 of the hyper project), with
WebSocket frames written and read by hand: an independent client for weft's server over
HTTP/2 (RFC 8441). Cleartext with prior knowledge (h2c) only.

usage: h2_client.py MODE HOST:PORT [ARGS]

modes, each printing exactly one JSON line on stdout and exiting 0 when it ran to the end:
  echo         waits for SETTINGS_ENABLE_CONNECT_PROTOCOL, opens a WebSocket with an extended
               CONNECT (:protocol websocket), sends masked frames (text, a 70,000-byte binary
               message in three fragments, a ping), reads the echoes and the pong, closes with
               1000 and waits for the close echo and END_STREAM:
               {"ok", "settings", "status", "extensions", "echoes", "pong", "close_code",
                "end_stream"}
  bad          sends each malformed or refused request on its own stream of one connection,
               then opens a valid WebSocket on the same connection and echoes one message:
               {"cases": [{"case", "status", "reset", "version_header", "extensions"}...],
                "after": {"status", "echo"}}
               "reset" is the RST_STREAM error code when the stream was reset instead of
               answered.
  rapid-reset N      opens N streams and resets each at once (CVE-2023-44487);
  continuation-flood N   one HEADERS frame without END_HEADERS, then N CONTINUATION frames
                     that never end the header block (CVE-2024-27316);
  settings-flood N   N SETTINGS frames without reading the acknowledgements;
  ping-flood N       N PING frames without reading the PONGs;
  over-cap N         opens N WebSockets at once on one connection;
  zero-window N      advertises a zero stream window, opens a WebSocket and sends N bytes
                     for the server to echo, then never opens the window;
  goaway             opens a WebSocket, sends half a message, then GOAWAY (INTERNAL_ERROR).
  The attack modes report {"sent", "goaway", "resets", "refused", "closed", "seconds"}:
  what went out, the GOAWAY error code if the server sent one, how many streams the server
  reset (and how many with REFUSED_STREAM), and whether the server closed the connection.
"""

import json
import os
import socket
import struct
import sys
import time

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

TIMEOUT = 20.0


def mask_frame(opcode, payload, fin=True):
    """A client-to-server WebSocket frame, masked with a random key (RFC 6455 5.3)."""
    first = (0x80 if fin else 0) | opcode
    length = len(payload)
    if length < 126:
        head = struct.pack("!BB", first, 0x80 | length)
    elif length < 65536:
        head = struct.pack("!BBH", first, 0x80 | 126, length)
    else:
        head = struct.pack("!BBQ", first, 0x80 | 127, length)
    key = os.urandom(4)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + key + masked


def parse_frames(buf):
    """Unmasked server frames at the start of `buf`: ([(fin, opcode, payload)], rest)."""
    frames = []
    while len(buf) >= 2:
        first, second = buf[0], buf[1]
        if second & 0x80:
            raise ValueError("a server frame is masked")
        length = second & 0x7F
        offset = 2
        if length == 126:
            if len(buf) < 4:
                break
            (length,) = struct.unpack("!H", buf[2:4])
            offset = 4
        elif length == 127:
            if len(buf) < 10:
                break
            (length,) = struct.unpack("!Q", buf[2:10])
            offset = 10
        if len(buf) < offset + length:
            break
        frames.append((bool(first & 0x80), first & 0x0F, buf[offset : offset + length]))
        buf = buf[offset + length :]
    return frames, buf


class Client:
    def __init__(self, addr, window=None):
        host, port = addr.rsplit(":", 1)
        self.authority = addr
        self.sock = socket.create_connection((host, int(port)), timeout=TIMEOUT)
        config = h2.config.H2Configuration(
            client_side=True,
            validate_outbound_headers=False,
            normalize_outbound_headers=False,
            validate_inbound_headers=False,
        )
        self.conn = h2.connection.H2Connection(config=config)
        settings = {}
        if window is not None:
            settings[h2.settings.SettingCodes.INITIAL_WINDOW_SIZE] = window
        self.conn.local_settings = h2.settings.Settings(client=True, initial_values=settings)
        self.conn.initiate_connection()
        self.flush()
        self.remote_settings = {}
        self.responses = {}
        self.data = {}
        self.ended = set()
        self.resets = {}
        self.goaway = None
        self.closed = False

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def pump(self, deadline, acknowledge=True):
        """Reads once (until `deadline`) and records the events; False once closed."""
        if self.closed:
            return False
        self.sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return True
        except OSError:
            self.closed = True
            return False
        if not chunk:
            self.closed = True
            return False
        try:
            events = self.conn.receive_data(chunk)
        except h2.exceptions.ProtocolError:
            self.closed = True
            return False
        for event in events:
            if isinstance(event, h2.events.RemoteSettingsChanged):
                for code, change in event.changed_settings.items():
                    self.remote_settings[int(code)] = change.new_value
            elif isinstance(event, h2.events.ResponseReceived):
                self.responses[event.stream_id] = dict(
                    (k.decode() if isinstance(k, bytes) else k, v.decode() if isinstance(v, bytes) else v)
                    for k, v in event.headers
                )
            elif isinstance(event, h2.events.DataReceived):
                self.data.setdefault(event.stream_id, bytearray()).extend(event.data)
                if acknowledge:
                    self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                self.ended.add(event.stream_id)
            elif isinstance(event, h2.events.StreamReset):
                self.resets[event.stream_id] = int(event.error_code)
            elif isinstance(event, h2.events.ConnectionTerminated):
                self.goaway = int(event.error_code)
        try:
            self.flush()
        except OSError:
            self.closed = True
        return True

    def wait(self, condition, what, acknowledge=True):
        deadline = time.monotonic() + TIMEOUT
        while not condition():
            if time.monotonic() > deadline or not self.pump(deadline, acknowledge):
                if condition():
                    return
                raise RuntimeError(f"no {what} within {TIMEOUT} s (closed: {self.closed})")

    def wait_for_connect_setting(self):
        code = int(h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL)
        self.wait(lambda: code in self.remote_settings, "SETTINGS_ENABLE_CONNECT_PROTOCOL")
        return self.remote_settings[code]

    def request(self, headers, end_stream=False):
        stream_id = self.conn.get_next_available_stream_id()
        self.conn.send_headers(stream_id, headers, end_stream=end_stream)
        self.flush()
        return stream_id

    def websocket_headers(self, path="/", extra=()):
        return [
            (":method", "CONNECT"),
            (":protocol", "websocket"),
            (":scheme", "http"),
            (":path", path),
            (":authority", self.authority),
            ("sec-websocket-version", "13"),
            *extra,
        ]

    def answered(self, stream_id):
        return lambda: stream_id in self.responses or stream_id in self.resets

    def send(self, stream_id, data, end_stream=False):
        """Sends `data` in DATA frames no larger than the peer allows, waiting for window."""
        data = memoryview(data)
        while True:
            room = min(
                self.conn.max_outbound_frame_size,
                self.conn.local_flow_control_window(stream_id),
            )
            if room == 0 and data:
                self.wait(
                    lambda: self.conn.local_flow_control_window(stream_id) > 0,
                    "flow-control window",
                )
                continue
            piece, data = data[:room], data[room:]
            self.conn.send_data(stream_id, bytes(piece), end_stream=end_stream and not data)
            self.flush()
            if not data:
                return

    def frames(self, stream_id):
        frames, rest = parse_frames(bytes(self.data.get(stream_id, b"")))
        return frames, rest


def echo(addr):
    client = Client(addr)
    setting = client.wait_for_connect_setting()
    stream = client.request(client.websocket_headers("/python-h2"))
    client.wait(client.answered(stream), "response")
    response = client.responses.get(stream, {})
    text = "hello from Python h2: ünïcödé ✓".encode()
    binary = bytes(range(256)) * 273 + bytes(112)  # 70,000 bytes
    client.send(stream, mask_frame(0x1, text))
    parts = [binary[:20000], binary[20000:50000], binary[50000:]]
    client.send(stream, mask_frame(0x2, parts[0], fin=False))
    client.send(stream, mask_frame(0x9, b"ping!"))
    client.send(stream, mask_frame(0x0, parts[1], fin=False))
    client.send(stream, mask_frame(0x0, parts[2], fin=True))
    client.wait(lambda: len(client.frames(stream)[0]) >= 3, "echoes and pong")
    client.send(stream, mask_frame(0x8, struct.pack("!H", 1000) + b"bye"))
    client.wait(
        lambda: any(op == 0x8 for _, op, _ in client.frames(stream)[0]) and stream in client.ended,
        "close echo and END_STREAM",
    )
    frames, _ = client.frames(stream)
    echoes = []
    pong = None
    close_code = None
    for fin, opcode, payload in frames:
        if opcode == 0x1:
            echoes.append({"kind": "text", "same": payload == text, "len": len(payload)})
        elif opcode == 0x2:
            echoes.append({"kind": "binary", "same": payload == binary, "len": len(payload)})
        elif opcode == 0xA:
            pong = payload.decode()
        elif opcode == 0x8:
            close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
        else:
            echoes.append({"kind": f"opcode {opcode}", "fin": fin})
    ok = (
        response.get(":status") == "200"
        and [e.get("same") for e in echoes] == [True, True]
        and pong == "ping!"
        and close_code == 1000
    )
    return {
        "ok": ok,
        "settings": {"enable_connect_protocol": setting},
        "status": response.get(":status"),
        "extensions": response.get("sec-websocket-extensions"),
        "echoes": echoes,
        "pong": pong,
        "close_code": close_code,
        "end_stream": stream in client.ended,
    }


def bad(addr):
    client = Client(addr)
    client.wait_for_connect_setting()
    ws = client.websocket_headers
    cases = [
        ("plain CONNECT", [(":method", "CONNECT"), (":authority", addr)]),
        ("unknown :protocol", [(h, "webtransport" if h == ":protocol" else v) for h, v in ws()]),
        ("missing :path", [(h, v) for h, v in ws() if h != ":path"]),
        ("missing :authority", [(h, v) for h, v in ws() if h != ":authority"]),
        ("no Sec-WebSocket-Version", [(h, v) for h, v in ws() if h != "sec-websocket-version"]),
        ("Sec-WebSocket-Version 8", [(h, "8" if h == "sec-websocket-version" else v) for h, v in ws()]),
        ("subprotocol not a token", ws("/", [("sec-websocket-protocol", "chat v2")])),
        ("malformed extension offer", ws("/", [("sec-websocket-extensions", "permessage-deflate; =")])),
        (
            "GET with Upgrade",
            [
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                (":authority", addr),
                ("connection", "upgrade"),
                ("upgrade", "websocket"),
                ("sec-websocket-version", "13"),
                ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ],
        ),
    ]
    results = []
    for name, headers in cases:
        end = headers[0] == (":method", "GET")
        stream = client.request(headers, end_stream=end)
        client.wait(client.answered(stream), f"an answer to {name}")
        response = client.responses.get(stream, {})
        results.append(
            {
                "case": name,
                "status": int(response[":status"]) if ":status" in response else None,
                "reset": client.resets.get(stream),
                "version_header": response.get("sec-websocket-version"),
                "extensions": response.get("sec-websocket-extensions"),
            }
        )
        if stream not in client.resets and stream not in client.ended:
            # An accepted WebSocket (the declined-extension case): close it cleanly.
            client.send(stream, mask_frame(0x8, struct.pack("!H", 1000)))
    stream = client.request(ws("/after"))
    client.wait(client.answered(stream), "the WebSocket after the bad requests")
    client.send(stream, mask_frame(0x1, b"still serving"))
    client.wait(lambda: client.frames(stream)[0], "the echo after the bad requests")
    frames, _ = client.frames(stream)
    after = {
        "status": int(client.responses.get(stream, {}).get(":status", 0)),
        "echo": frames[0][2].decode() if frames and frames[0][1] == 0x1 else None,
    }
    return {"cases": results, "after": after}


def attack(mode, addr, count):
    client = Client(addr, window=0 if mode == "zero-window" else None)
    client.wait_for_connect_setting()
    started = time.monotonic()
    sent = 0
    try:
        if mode == "rapid-reset":
            for _ in range(count):
                stream = client.request(client.websocket_headers("/reset"))
                client.conn.reset_stream(stream, h2.errors.ErrorCodes.CANCEL)
                sent += 1
                if sent % 100 == 0:
                    client.flush()
                    client.pump(time.monotonic() + 0.001)
            client.flush()
        elif mode == "continuation-flood":
            # A header block that never ends: HEADERS without END_HEADERS, then CONTINUATIONs.
            stream = client.conn.get_next_available_stream_id()
            block = b"\x00\x06x-junk\x7f\x81\x01" + b"a" * 255  # literal, 256-byte value
            header = struct.pack("!I", len(block))[1:] + bytes([0x1, 0x0]) + struct.pack("!I", stream)
            client.sock.sendall(header + block)
            for _ in range(count):
                frame = struct.pack("!I", len(block))[1:] + bytes([0x9, 0x0]) + struct.pack("!I", stream)
                client.sock.sendall(frame + block)
                sent += 1
        elif mode == "settings-flood":
            frame = struct.pack("!I", 6)[1:] + bytes([0x4, 0x0]) + struct.pack("!I", 0)
            payload = struct.pack("!HI", 0x3, 100)  # MAX_CONCURRENT_STREAMS = 100
            for _ in range(count):
                client.sock.sendall(frame + payload)
                sent += 1
        elif mode == "ping-flood":
            frame = struct.pack("!I", 8)[1:] + bytes([0x6, 0x0]) + struct.pack("!I", 0)
            for i in range(count):
                client.sock.sendall(frame + struct.pack("!Q", i))
                sent += 1
        elif mode == "over-cap":
            # Past the server's SETTINGS_MAX_CONCURRENT_STREAMS, which h2 would refuse to do.
            code = h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS
            client.conn.remote_settings[code] = 1 << 30
            client.conn.remote_settings.acknowledge()
            for _ in range(count):
                client.request(client.websocket_headers("/cap"))
                sent += 1
        elif mode == "goaway":
            # A WebSocket in the middle of a message when the connection fails with GOAWAY.
            stream = client.request(client.websocket_headers("/goaway"))
            client.wait(client.answered(stream), "the response")
            client.send(stream, mask_frame(0x2, bytes(1000), fin=False))
            client.conn.close_connection(error_code=h2.errors.ErrorCodes.INTERNAL_ERROR)
            client.flush()
            client.sock.close()
            client.closed = True
            sent = 1
        elif mode == "zero-window":
            stream = client.request(client.websocket_headers("/zero-window"))
            client.wait(client.answered(stream), "the response")
            chunk = mask_frame(0x2, bytes(count))
            client.send(stream, chunk)
            sent = count
        else:
            raise SystemExit(f"unknown mode {mode}")
    except (OSError, h2.exceptions.ProtocolError):
        pass
    # Read what the server says for a while (without reading, a flood's answers would stall
    # the server's writes forever; reading them shows whether it stayed bounded).
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline and client.pump(deadline):
        pass
    refused = sum(1 for code in client.resets.values() if code == int(h2.errors.ErrorCodes.REFUSED_STREAM))
    return {
        "sent": sent,
        "goaway": client.goaway,
        "resets": len(client.resets),
        "refused": refused,
        "closed": client.closed,
        "seconds": round(time.monotonic() - started, 3),
    }


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    mode, addr = sys.argv[1], sys.argv[2]
    if mode == "echo":
        result = echo(addr)
    elif mode == "bad":
        result = bad(addr)
    else:
        result = attack(mode, addr, int(sys.argv[3]) if len(sys.argv) > 3 else 1000)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
