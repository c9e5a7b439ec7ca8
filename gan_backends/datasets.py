"""Training data for the GANs, made with NumPy and Pillow only.

Every loader returns a float32 NumPy array, so the bytes a model trains on do not depend on the
deep-learning backend that consumes them:

- ``gaussian``: the d2l toy problem, points of a 2-D Gaussian, shape ``(n, 2)``.
- ``shapes``: procedurally drawn coloured sprites, NCHW in [-1, 1].
- ``emoji``: 1,906 Noto Emoji images packaged with the library (see ``data/NOTICE``).
- ``image_folder``: any folder (searched recursively) or ``.zip`` file of images, such as d2l's
  Pokemon sprites.

Images are RGB; transparency is composited onto white; resizing always uses ``RESAMPLE``.
"""

from __future__ import annotations

import io
import os
import warnings
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image

DATASETS = ("emoji", "shapes")
DEFAULT_DATASET = "emoji"

GAUSSIAN_A = np.array([[1.0, 2.0], [-0.1, 0.5]], np.float32)
GAUSSIAN_B = np.array([1.0, 2.0], np.float32)

#: The one resampling filter used for every resize. Lanczos keeps downscaled images sharp; its
#: overshoot is clipped to 0..255 by Pillow, so the [-1, 1] range is kept.
RESAMPLE = Image.Resampling.LANCZOS

EMOJI_FILE = Path(__file__).resolve().parent / "data" / "emoji.npz"
#: Greyscale modes of more than 8 bits, read as 0..65535 (Pillow's own conversion clips them).
SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_WHITE = (255, 255, 255, 255)


def gaussian(num_examples: int = 1000, seed: int = 0) -> np.ndarray:
    """Return ``X @ GAUSSIAN_A + GAUSSIAN_B`` with ``X`` standard normal, float32 ``(n, 2)``."""
    x = np.random.default_rng(seed).standard_normal((num_examples, 2), dtype=np.float32)
    a, b = GAUSSIAN_A.astype(np.float64), GAUSSIAN_B.astype(np.float64)
    # The product written out, not ``@``: a BLAS kernel may fuse multiply-adds and change the
    # last bit from one install to the next.
    return (x[:, :1] * a[0] + x[:, 1:] * a[1] + b).astype(np.float32)


def gaussian_moments() -> tuple[np.ndarray, np.ndarray]:
    """Return the true mean and covariance (float64) of the distribution ``gaussian`` samples."""
    a = GAUSSIAN_A.astype(np.float64)
    return GAUSSIAN_B.astype(np.float64), a.T @ a


def shapes(num_examples: int = 2048, image_size: int = 64, seed: int = 0) -> np.ndarray:
    """Draw one anti-aliased sprite per image, float32 NCHW in [-1, 1].

    Each image holds a circle, square, triangle or ring of a random saturated colour, size,
    position and rotation, lying wholly inside a light, slightly tinted background. The random
    parameters do not depend on ``image_size``, so a seed draws the same scenes at every size.
    Pixels are rounded to 8 bits like the other image datasets, which also keeps the output
    identical across NumPy versions whose ``cos`` or ``hypot`` differ in the last bit.
    """
    rng = np.random.default_rng(seed)
    n = num_examples
    kind = rng.integers(0, 4, n)
    radius = rng.uniform(0.15, 0.35, n)  # circumradius, as a fraction of the image side
    centre = rng.uniform(radius[:, None], 1.0 - radius[:, None], (n, 2))
    angle = rng.uniform(0.0, 2.0 * np.pi, n)
    thickness = rng.uniform(0.25, 0.45, n) * radius
    colour = _hsv_to_rgb(
        rng.uniform(0.0, 1.0, n), rng.uniform(0.6, 1.0, n), rng.uniform(0.45, 0.85, n)
    )
    background = 1.0 - rng.uniform(0.0, 0.12, (n, 3))

    pixels = np.empty((n, image_size, image_size, 3), np.uint8)
    for start in range(0, n, 256):  # in chunks, to bound the float64 temporaries
        part = slice(start, start + 256)
        coverage = _coverage(
            kind[part], centre[part], radius[part], angle[part], thickness[part], image_size
        )
        paper = background[part, None, None]
        pixels[part] = np.rint(255 * (paper + (colour[part, None, None] - paper) * coverage))
    return _to_model_range(pixels)


def _coverage(
    kind: np.ndarray,
    centre: np.ndarray,
    radius: np.ndarray,
    angle: np.ndarray,
    thickness: np.ndarray,
    image_size: int,
) -> np.ndarray:
    """Return how much of each pixel the sprites cover, shape ``(n, size, size, 1)`` in [0, 1]."""
    grid = (np.arange(image_size) + 0.5) / image_size
    dx = grid[None, None, :] - centre[:, 0, None, None]
    dy = grid[None, :, None] - centre[:, 1, None, None]
    # Signed distance to the outline (negative inside), in units of the image side.
    distance = np.empty((len(kind), image_size, image_size))
    for k in range(4):
        i = kind == k
        x, y, r, a = dx[i], dy[i], radius[i, None, None], angle[i]
        if k == 0:  # circle
            d = np.hypot(x, y) - r
        elif k == 1:  # square, corners on the circumcircle
            cos, sin = np.cos(a)[:, None, None], np.sin(a)[:, None, None]
            d = np.maximum(np.abs(cos * x + sin * y), np.abs(cos * y - sin * x)) - r / np.sqrt(2)
        elif k == 2:  # equilateral triangle: inside its three edges, inradius r / 2
            normals = [a + third * 2.0 * np.pi / 3.0 for third in range(3)]
            d = np.max(
                [np.cos(b)[:, None, None] * x + np.sin(b)[:, None, None] * y for b in normals],
                axis=0,
            )
            d -= r / 2
        else:  # ring
            t = thickness[i, None, None]
            d = np.abs(np.hypot(x, y) - (r - t / 2)) - t / 2
        distance[i] = d
    return np.clip(0.5 - distance * image_size, 0.0, 1.0)[..., None]  # edges one pixel wide


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Convert HSV arrays of shape ``(n,)`` in [0, 1] to RGB of shape ``(n, 3)`` in [0, 1]."""
    k = (np.array([5.0, 3.0, 1.0]) + h[:, None] * 6.0) % 6.0
    return v[:, None] - (v * s)[:, None] * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


def emoji(image_size: int = 64) -> np.ndarray:
    """Return the packaged Noto Emoji images (1,906 of them), float32 NCHW in [-1, 1]."""
    if not EMOJI_FILE.is_file():
        raise FileNotFoundError(
            f"{EMOJI_FILE} is missing. Build it from the npm package emoji-datasource-google: "
            "`npm pack emoji-datasource-google`, then "
            "`python tools/build_emoji_dataset.py emoji-datasource-google-<version>.tgz`."
        )
    with np.load(EMOJI_FILE, allow_pickle=False) as archive:
        images = archive["images"]
    if images.shape[1:3] != (image_size, image_size):
        images = np.stack([np.asarray(_resize(Image.fromarray(i), image_size)) for i in images])
    return _to_model_range(images)


def image_folder(path: str | os.PathLike, image_size: int = 64) -> np.ndarray:
    """Load every image in a folder (recursively) or a ``.zip`` file, float32 NCHW in [-1, 1].

    Files are read in sorted path order. Every mode Pillow opens becomes RGB: transparency (RGBA,
    LA, palette or colour-key) is composited onto white; 16-bit and 32-bit integer greyscale
    (``I;16``, ``I``) are scaled from 0..65535, floating-point greyscale (``F``) from 0..1 when
    every value lies there, else from 0..255; CMYK, YCbCr, LAB, HSV and the rest go through
    Pillow's own conversion. Each image is resized straight to ``image_size x image_size`` with
    ``RESAMPLE``: non-square images are stretched, not cropped, as d2l's ``Resize((64, 64))``
    does. Hidden files and macOS ``__MACOSX`` folders are ignored; files that Pillow cannot
    read, and images too large to decode safely (Pillow's decompression-bomb limit), are skipped
    with one warning that counts and names them.
    """
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"{root} does not exist; expected a folder or .zip file of images")
    decoded: list[np.ndarray] = []
    skipped: dict[str, list[str]] = {"not readable as images": [], "too large to decode": []}
    for name, read in _image_files(root):
        try:
            with Image.open(io.BytesIO(read())) as image:
                image.load()
                decoded.append(np.asarray(_resize(_rgb(image), image_size)))
        except Image.DecompressionBombError:
            skipped["too large to decode"].append(name)
        except Exception:  # Pillow's decoders raise many types on malformed files
            skipped["not readable as images"].append(name)
    reasons = "; ".join(
        f"{len(names)} {why}: {_listing(names)}" for why, names in skipped.items() if names
    )
    if not decoded:
        found = f"no usable image ({reasons})" if reasons else "no files"
        raise ValueError(
            f"{root} holds {found}; expected image files (PNG, JPEG, ...), in sub-folders or not"
        )
    if reasons:
        total = sum(map(len, skipped.values()))
        warnings.warn(f"skipped {total} files under {root}: {reasons}", stacklevel=2)
    return _to_model_range(np.stack(decoded))


def _listing(names: list[str]) -> str:
    return ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")


def _image_files(root: Path) -> Iterator[tuple[str, Callable[[], bytes]]]:
    """Yield ``(relative name, read bytes)`` for each candidate file, sorted by name."""
    if root.is_dir():
        files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
        for name in files:
            if not _hidden(name):
                yield name, (root / name).read_bytes
    elif zipfile.is_zipfile(root):
        with zipfile.ZipFile(root) as archive:
            for info in sorted(archive.infolist(), key=lambda info: info.filename):
                if not info.is_dir() and not _hidden(info.filename):
                    yield info.filename, lambda info=info: archive.read(info)
    else:
        raise ValueError(f"{root} is neither a folder nor a .zip file; expected one of images")


def _hidden(name: str) -> bool:
    return any(part.startswith(".") or part == "__MACOSX" for part in name.split("/"))


def _rgb(image: Image.Image) -> Image.Image:
    if image.mode in SIXTEEN_BIT_MODES:
        return _grey_to_rgb(np.asarray(image, np.float64), 65535.0)
    if image.mode == "F":
        values = np.nan_to_num(np.asarray(image, np.float64))
        return _grey_to_rgb(values, 1.0 if values.min() >= 0 and values.max() <= 1 else 255.0)
    # Before any resize: resampling first would blend the arbitrary colour stored under fully
    # transparent pixels into the edges of the picture.
    if image.mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, _WHITE), rgba).convert("RGB")
    return image.convert("RGB")


def _grey_to_rgb(values: np.ndarray, white: float) -> Image.Image:
    grey = np.rint(np.clip(values, 0.0, white) * (255.0 / white)).astype(np.uint8)
    return Image.fromarray(grey).convert("RGB")


def _resize(image: Image.Image, image_size: int) -> Image.Image:
    if image.size == (image_size, image_size):
        return image
    return image.resize((image_size, image_size), RESAMPLE)


def _to_model_range(images: np.ndarray) -> np.ndarray:
    """Map uint8 NHWC in 0..255 to float32 NCHW in [-1, 1]."""
    out = np.ascontiguousarray(images.transpose(0, 3, 1, 2), dtype=np.float32)
    out /= 127.5
    out -= 1.0
    return out


def load(name_or_path: str, image_size: int = 64, seed: int = 0) -> np.ndarray:
    """Load a dataset by name (one of ``DATASETS``) or, failing that, from a path.

    ``seed`` only matters for ``"shapes"``. A known name wins over a folder of the same name.
    """
    if name_or_path == "shapes":
        return shapes(image_size=image_size, seed=seed)
    if name_or_path == "emoji":
        return emoji(image_size)
    if os.path.exists(name_or_path):
        return image_folder(name_or_path, image_size)
    raise ValueError(
        f"unknown dataset {name_or_path!r}: expected one of {', '.join(DATASETS)}, "
        "or the path of an existing folder or .zip file of images"
    )
