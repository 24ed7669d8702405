"""WAV header checks that need neither torch nor a full decode (the corpus scan runs them
on every file)."""

from __future__ import annotations

import struct
from pathlib import Path

from xlser.errors import InputError


def wav_data_sizes(path: str | Path) -> tuple[int, int] | None:
    """(bytes the RIFF/WAVE header declares for the `data` chunk, bytes the file holds after
    it), or None for other formats and streamed WAVs (declared size 0 or 0xFFFFFFFF). A
    shortfall of less than one frame (the `fmt ` block align) counts as complete; a file
    that ends before its `data` chunk starts is an InputError naming the header part.

    libsndfile quietly shortens a WAV whose file is shorter than its header says, so a copy
    cut off in transfer would be read at a fraction of its length without a word.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
            if head[:4] != b"RIFF" or (len(head) == 12 and head[8:12] != b"WAVE"):
                return None
            size = Path(path).stat().st_size
            if len(head) < 12:
                raise _cut(path, size, "RIFF header")
            pos, frame = 12, 1
            while True:
                if pos + 8 > size:
                    raise _cut(path, size, "a chunk header" if pos < size else "header (no 'data' chunk)")
                fh.seek(pos)
                cid, n = struct.unpack("<4sI", fh.read(8))
                if cid != b"data" and pos + 8 + n > size:
                    raise _cut(path, size, f"{cid.decode('latin-1')!r} chunk")
                if cid == b"fmt ":
                    if n < 14:
                        raise InputError(
                            path,
                            f"malformed WAV header: its 'fmt ' chunk holds {n} bytes, at least 14 "
                            f"expected; replace the file with a complete copy",
                        )
                    fmt = fh.read(14)
                    frame = max(1, struct.unpack("<H", fmt[12:14])[0])  # block align
                if cid == b"data":
                    if n in (0, 0xFFFFFFFF):
                        return None
                    held = size - pos - 8
                    # less than one frame short: a writer's rounding, not lost audio
                    return (n, held) if n - held >= frame else (n, n)
                pos += 8 + n + (n & 1)
    except OSError:
        return None


def _cut(path: str | Path, size: int, part: str) -> InputError:
    return InputError(
        path,
        f"WAV file cut off inside its header ({size} bytes, ends in the {part}): "
        f"replace it with a complete copy or remove it from the corpus",
    )


def check_not_truncated(path: str | Path) -> None:
    """Raise InputError if a WAV file holds fewer bytes than its header declares."""
    sizes = wav_data_sizes(path)
    if sizes is not None and sizes[1] < sizes[0]:
        declared, held = sizes
        raise InputError(
            path,
            f"truncated WAV file: the header declares {declared} bytes of audio, the file "
            f"holds {held} ({100 * held / declared:.0f} %); replace it with a complete copy "
            f"or remove it from the corpus",
        )
