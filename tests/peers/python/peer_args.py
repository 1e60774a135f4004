"""Argument types and options shared by the Python peers (the same command lines as the Node
peers)."""
import argparse


def address(text):
    """`PORT` or `HOST:PORT` -> (host, port); the host defaults to loopback."""
    host, _, port = text.rpartition(":")
    try:
        return (host.strip("[]") or "127.0.0.1", int(port))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected PORT or HOST:PORT, got {text!r}")


def on_off(text):
    """`on`/`off` -> True/False."""
    if text in ("on", "off"):
        return text == "on"
    raise argparse.ArgumentTypeError(f"expected on or off, got {text!r}")


def sizes(text):
    """`SIZE[,SIZE...]` -> [int, ...], each at least 0."""
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        values = []
    if not values or any(value < 0 for value in values):
        raise argparse.ArgumentTypeError(f"expected SIZE[,SIZE...] in bytes, got {text!r}")
    return values


def window_bits(text):
    """A permessage-deflate window size in bits, 8 to 15."""
    try:
        bits = int(text)
    except ValueError:
        bits = 0
    if not 8 <= bits <= 15:
        raise argparse.ArgumentTypeError(f"expected window bits from 8 to 15, got {text!r}")
    return bits


def add_deflate_options(parser):
    """permessage-deflate parameters (RFC 7692 section 7.1). Given any of them, the extension is
    configured with exactly these (websockets' factory defaults for the rest) instead of the
    library's `compression="deflate"` defaults."""
    parser.add_argument("--server-no-context-takeover", action="store_true")
    parser.add_argument("--client-no-context-takeover", action="store_true")
    parser.add_argument("--server-max-window-bits", type=window_bits, metavar="BITS")
    parser.add_argument("--client-max-window-bits", type=window_bits, metavar="BITS")


def add_message_options(parser):
    """How messages are sent (fragmented or not) and how this end closes."""
    parser.add_argument(
        "--fragment-size", type=int, default=0, metavar="BYTES",
        help="send every message in frames of at most BYTES (0: one frame per message)")
    parser.add_argument(
        "--close-code", type=int, default=1000, metavar="CODE",
        help="close with CODE; 1005 sends a close frame without a code")
    parser.add_argument("--close-reason", default="", metavar="TEXT")


def close_code_to_send(options):
    """The code to close with: None (a close frame without a code) for 1005."""
    return None if options.close_code == 1005 else options.close_code


def deflate_parameters(options):
    """The permessage-deflate parameters given on the command line, as factory keyword
    arguments, or None when none was given."""
    parameters = {}
    if options.server_no_context_takeover:
        parameters["server_no_context_takeover"] = True
    if options.client_no_context_takeover:
        parameters["client_no_context_takeover"] = True
    if options.server_max_window_bits is not None:
        parameters["server_max_window_bits"] = options.server_max_window_bits
    if options.client_max_window_bits is not None:
        parameters["client_max_window_bits"] = options.client_max_window_bits
    return parameters or None
