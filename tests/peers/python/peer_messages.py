"""Message content and fragmentation shared by the Python peers (the same content as the Node
peers, so a test can check either against the same expectations)."""
import random

# Deterministic text with one-, two-, three- and four-byte UTF-8 sequences.
TEXT_PATTERN = "weft interop {i}: ünïcödé ✓ — 日本語 🎉 the quick brown fox jumps over the lazy dog. "


def text(i, size):
    """Exactly `size` bytes of valid UTF-8 with non-ASCII characters, as a str."""
    unit = TEXT_PATTERN.format(i=i).encode()
    data = (unit * (size // len(unit) + 1))[:size]
    # Cutting may leave an incomplete character at the end: drop it and pad with ASCII.
    whole = data.decode("utf-8", "ignore")
    return whole + "." * (size - len(whole.encode()))


def binary(i, size, content="pattern"):
    """Exactly `size` bytes: every byte value in a repeating pattern (compresses well), or
    `random` bytes, which DEFLATE cannot shrink and makes slightly larger."""
    if content == "random":
        return random.Random(i).randbytes(size)
    unit = bytes((i + b) % 256 for b in range(256)) * 8
    return (unit * (size // len(unit) + 1))[:size]


def fragments(data, size):
    """`data` (bytes) cut into pieces of at most `size` bytes; at least one piece, so that an
    empty message is still sent (websockets sends nothing for an empty iterable)."""
    return [data[at:at + size] for at in range(0, max(len(data), 1), size)]


async def send(ws, message, fragment_size):
    """Sends `message` (str or bytes) whole, or in frames of at most `fragment_size` bytes.
    Text is cut by bytes, so a piece may end inside a character (the receiver must accept it;
    only the whole message has to be valid UTF-8)."""
    if not fragment_size:
        await ws.send(message)
        return
    is_text = isinstance(message, str)
    data = message.encode() if is_text else message
    await ws.send(fragments(data, fragment_size), text=is_text)
