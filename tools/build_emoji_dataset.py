"""Build gan_backends/data/emoji.npz from the npm package ``emoji-datasource-google``.

Get the package with ``npm pack emoji-datasource-google`` (a ``.tgz``), then run::

    python tools/build_emoji_dataset.py emoji-datasource-google-16.0.0.tgz

The source may also be the unpacked package folder (the one holding ``emoji.json``, or its
parent). One image is kept per emoji listed in ``emoji.json``: skin-tone variants (listed under
``skin_variations``) and the five bare skin-tone swatches (codepoints 1F3FB..1F3FF) are left out.
Each 64x64 PNG is composited onto white and stored as uint8 RGB, NHWC, sorted by file name, in a
compressed ``.npz`` with the keys ``images``, ``names`` and ``source``.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import tarfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

IMAGE_DIR = "img/google/64"
SKIN_TONE = re.compile(r"1f3f[b-f]")
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "gan_backends" / "data" / "emoji.npz"


@contextmanager
def open_package(source: Path) -> Iterator[Callable[[str], bytes]]:
    """Yield a function reading a file of the package, by its path inside the package."""
    if source.is_dir():
        root = source if (source / "emoji.json").is_file() else source / "package"
        if not (root / "emoji.json").is_file():
            raise SystemExit(f"{source}: no emoji.json here or in package/; is it the npm package?")
        yield lambda name: (root / name).read_bytes()
    elif source.is_file() and tarfile.is_tarfile(source):
        with tarfile.open(source) as archive:

            def read(name: str) -> bytes:
                member = archive.extractfile(f"package/{name}")
                if member is None:
                    raise SystemExit(f"{source}: package/{name} is not a regular file")
                return member.read()

            yield read
    else:
        raise SystemExit(f"{source}: expected the emoji-datasource-google folder or its .tgz")


def on_white(png: bytes) -> np.ndarray:
    """Decode a PNG, composite it onto white, and return it as uint8 RGB (H, W, 3)."""
    with Image.open(io.BytesIO(png)) as image:
        rgba = image.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="unpacked emoji-datasource-google or its .tgz")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output .npz file")
    args = parser.parse_args()

    with open_package(args.source) as read:
        package = json.loads(read("package.json"))
        names = sorted(
            entry["image"]
            for entry in json.loads(read("emoji.json"))
            if entry["has_img_google"] and not SKIN_TONE.search(entry["image"])
        )
        images = [on_white(read(f"{IMAGE_DIR}/{name}")) for name in names]
    wrong_size = [n for n, image in zip(names, images, strict=True) if image.shape[:2] != (64, 64)]
    if wrong_size:
        raise SystemExit(f"expected 64x64 images; these are not: {', '.join(wrong_size[:5])}")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        images=np.stack(images),
        names=np.array(names),
        source=np.array(f"{package['name']}@{package['version']}"),
    )
    size_mb = args.out.stat().st_size / 1e6
    source = f"{package['name']} {package['version']}"
    print(f"wrote {len(names)} emoji from {source} to {args.out} ({size_mb:.1f} MB)")


if __name__ == "__main__":
    main()
