#!/usr/bin/env python3
"""Generates every icon the bundler needs from icons/icon.svg (the one source).

PNGs come from rsvg-convert (Debian: librsvg2-bin); the .ico and .icns containers are
written here, both holding PNG images, which every supported OS version reads.
"""
import struct
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ICONS = ROOT / "icons"
SVG = ICONS / "icon.svg"


def png(size: int) -> bytes:
    return subprocess.run(
        ["rsvg-convert", "-w", str(size), "-h", str(size), str(SVG)],
        check=True,
        capture_output=True,
    ).stdout


def write_ico(path: Path, sizes: list[int]) -> None:
    images = [png(s) for s in sizes]
    header = struct.pack("<HHH", 0, 1, len(images))
    offset = 6 + 16 * len(images)
    entries, data = b"", b""
    for size, img in zip(sizes, images):
        dim = 0 if size >= 256 else size  # 0 means 256 in ICO
        entries += struct.pack("<BBBBHHII", dim, dim, 0, 0, 1, 32, len(img), offset + len(data))
        data += img
    path.write_bytes(header + entries + data)


def write_icns(path: Path) -> None:
    # OSType -> pixel size, PNG payloads (macOS 10.7+).
    kinds = [(b"icp4", 16), (b"icp5", 32), (b"icp6", 64), (b"ic07", 128), (b"ic08", 256), (b"ic09", 512), (b"ic10", 1024)]
    chunks = b"".join(k + struct.pack(">I", 8 + len(p)) + p for k, p in ((k, png(s)) for k, s in kinds))
    path.write_bytes(b"icns" + struct.pack(">I", 8 + len(chunks)) + chunks)


def main() -> int:
    outputs = {
        "32x32.png": 32,
        "64x64.png": 64,
        "128x128.png": 128,
        "128x128@2x.png": 256,
        "icon.png": 512,
        # Windows Store / AppX tiles.
        "Square30x30Logo.png": 30,
        "Square44x44Logo.png": 44,
        "Square71x71Logo.png": 71,
        "Square89x89Logo.png": 89,
        "Square107x107Logo.png": 107,
        "Square142x142Logo.png": 142,
        "Square150x150Logo.png": 150,
        "Square284x284Logo.png": 284,
        "Square310x310Logo.png": 310,
        "StoreLogo.png": 50,
    }
    for name, size in outputs.items():
        (ICONS / name).write_bytes(png(size))
    write_ico(ICONS / "icon.ico", [16, 24, 32, 48, 64, 256])
    write_icns(ICONS / "icon.icns")
    (ROOT / "ui" / "public" / "icon.svg").write_bytes(SVG.read_bytes())
    return 0


if __name__ == "__main__":
    sys.exit(main())
