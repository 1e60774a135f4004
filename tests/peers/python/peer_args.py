"""Argument types shared by the Python peers (the same command lines as the Node peers)."""
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
