"""Training data for the GANs, made with NumPy and Pillow only.

Every loader returns a NumPy array, so the bytes a model trains on do not depend on the
deep-learning backend that consumes them:

- ``gaussian``: the d2l toy problem, points of a 2-D Gaussian, float32 ``(n, 2)``.
- ``shapes``: procedurally drawn coloured sprites.
- ``emoji``: 1,906 Noto Emoji images packaged with the library (see ``data/NOTICE``).
- ``pokemon``: d2l's own Pokemon sprites (40,597 of 721 Pokemon), downloaded once from d2l's
  data hub into the cache folder and verified by SHA-1 (:mod:`gan_backends.download`).
- ``image_folder``: any folder (searched recursively) or ``.zip`` file of images.

Images are uint8 NCHW RGB (0..255), a quarter of float32's memory on the host and on the
device; :func:`to_model_range` gives the models' float32 [-1, 1], which the training steps
compute on the device with the same table of 256 values (:data:`LEVELS`), so it is exact.
Transparency is composited onto white; resizing always uses ``RESAMPLE``; images that are not
square are letterboxed on their background colour by default (``fit``).

Folders are decoded on every core and the result cached (:func:`image_folder`); a cached data
set larger than ``IN_MEMORY_FRACTION`` of the available memory is returned memory-mapped, and
the trainer then streams it from disk a few hundred megabytes at a time.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import math
import os
import warnings
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from gan_backends import download
from gan_backends.files import write_atomically, write_json

DATASETS = ("emoji", "shapes", "pokemon")
DEFAULT_DATASET = "emoji"
FITS = ("pad", "stretch", "crop")
DEFAULT_FIT = "pad"

POKEMON_URL = "http://d2l-data.s3-accelerate.amazonaws.com/pokemon.zip"
POKEMON_SHA1 = "c065c0e2593b8b161a2d7873e42418bf6a21106c"
#: Set to a mirror's address of pokemon.zip (the same file: the SHA-1 is checked).
POKEMON_URL_VARIABLE = "GAN_BACKENDS_POKEMON_URL"

#: The float32 value of each uint8 level in the models' range: level / 127.5 - 1.
LEVELS = np.arange(256, dtype=np.float32) / np.float32(127.5) - np.float32(1.0)
#: A decoded data set larger than this share of the available memory stays on disk.
IN_MEMORY_FRACTION = 0.5
#: Bump when decoding changes, so that older caches are not reused.
DECODER_VERSION = 1

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
    """Draw one anti-aliased sprite per image, uint8 NCHW.

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
    return _nchw(pixels)


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
    """Return the packaged Noto Emoji images (1,906 of them), uint8 NCHW."""
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
    return _nchw(images)


def pokemon(image_size: int = 64, fit: str = DEFAULT_FIT, root: Path | None = None) -> np.ndarray:
    """d2l's Pokemon sprites, uint8 NCHW, as d2l reads them (every class folder, RGB).

    The archive is downloaded once from d2l's data hub (or ``$GAN_BACKENDS_POKEMON_URL``) into
    ``root`` (the cache folder by default) and extracted there; without a network, place
    ``pokemon.zip`` (SHA-1 ``POKEMON_SHA1``) in that folder.
    """
    root = root or download.cache_folder()
    url = os.environ.get(POKEMON_URL_VARIABLE, POKEMON_URL)
    archive = download.fetch(url, POKEMON_SHA1, root)
    return image_folder(download.extract(archive, root / "pokemon"), image_size, fit)


def image_folder(
    path: str | os.PathLike, image_size: int = 64, fit: str = DEFAULT_FIT, cache: bool = True
) -> np.ndarray:
    """Load every image in a folder (recursively) or a ``.zip`` file, uint8 NCHW.

    Files are read in sorted path order. Every mode Pillow opens becomes RGB: transparency (RGBA,
    LA, palette or colour-key) is composited onto white; 16-bit and 32-bit integer greyscale
    (``I;16``, ``I``) are scaled from 0..65535, floating-point greyscale (``F``) from 0..1 when
    every value lies there, else from 0..255; CMYK, YCbCr, LAB, HSV and the rest go through
    Pillow's own conversion. Each image becomes ``image_size x image_size`` with ``RESAMPLE``;
    one that is not square is fitted by ``fit``: ``"pad"`` letterboxes it on its background
    colour (the median colour of its border) without distortion, ``"stretch"`` resizes it
    straight to a square, as d2l's ``Resize((64, 64))`` does, and ``"crop"`` keeps its centred
    square. Hidden files and macOS ``__MACOSX`` folders are ignored; files that Pillow cannot
    read, and images too large to decode safely (Pillow's decompression-bomb limit), are skipped
    with one warning that counts and names them.

    Images larger than Pillow's decompression-bomb threshold (but under its limit) are decoded
    and named in a warning; greyscale images holding NaN or infinite values are skipped and
    named; members of a ``.zip`` whose names climb out of the archive (``../``, absolute
    paths) are skipped and named.

    Images are decoded on every core. With ``cache``, the result is kept in the cache folder
    under a key made of the files' names and contents, the size and the fit: the next call
    returns it at once, and a change to any file decodes again. The cache's index records the
    SHA-256 of the cached array, checked on every read: a damaged cache (or index) is named in
    one warning and decoded again. A cached result larger than ``IN_MEMORY_FRACTION`` of the
    available memory is returned memory-mapped.
    """
    if fit not in FITS:
        raise ValueError(f"--fit must be one of {', '.join(FITS)}; got {fit!r}")
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"{root} does not exist; expected a folder or .zip file of images")
    with _image_files(root) as files:
        cached = _cache_path(root, files, image_size, fit) if cache else None
        if cached is not None and cached.is_file():
            images = _read_cache(cached, root)
            if images is not None:
                return images
        decoded, skipped = _decode_all(files, image_size, fit)
    reasons = "; ".join(
        f"{len(names)} {why}: {_listing(names)}" for why, names in skipped.items() if names
    )
    if not len(decoded):
        found = f"no usable image ({reasons})" if reasons else "no files"
        raise ValueError(
            f"{root} holds {found}; expected image files (PNG, JPEG, ...), in sub-folders or not"
        )
    images = decoded
    if cached is not None:
        write_atomically(cached, lambda file: np.save(file, images))
        digest = _sha256(cached)
        write_json(cached.with_suffix(".json"), {"skipped": skipped, "sha256": digest})
    _warn_skipped(root, skipped)
    return images


def _decode_all(
    files: list[tuple[str, Callable[[], bytes]]], image_size: int, fit: str
) -> tuple[np.ndarray, dict[str, list[str]]]:
    """The decoded images, in order, uint8 NCHW, and the names of the files skipped, by
    reason. Each image goes straight into one array, so decoding needs no second copy."""

    def decode(read: Callable[[], bytes]) -> tuple[np.ndarray, bool] | str:
        try:
            with Image.open(io.BytesIO(read())) as image:
                image.load()
                large = image.width * image.height > (Image.MAX_IMAGE_PIXELS or math.inf)
                return np.asarray(_fit(_rgb(image), image_size, fit)), large
        except Image.DecompressionBombError:
            return "too large to decode"
        except NonFiniteImageError:
            return "holding NaN or infinite values"
        except Exception:  # Pillow's decoders raise many types on malformed files
            return "not readable as images"

    skipped: dict[str, list[str]] = {
        "not readable as images": [], "too large to decode": [],
        "holding NaN or infinite values": [],
    }  # fmt: skip
    large: list[str] = []
    decoded = np.empty((len(files), 3, image_size, image_size), np.uint8)
    count = 0
    # Pillow releases the GIL while it decodes and resizes, so threads use every core. Its
    # warning about large images names no file: the names are collected and warned below.
    with warnings.catch_warnings(), ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        results = pool.map(decode, [read for _, read in files])
        for (name, _), result in zip(files, results, strict=True):
            if isinstance(result, str):
                skipped[result].append(name)
            else:
                decoded[count] = result[0].transpose(2, 0, 1)
                count += 1
                if result[1]:
                    large.append(name)
    if large:
        warnings.warn(
            f"decoded {len(large)} image{'s' if len(large) > 1 else ''} of more than "
            f"{Image.MAX_IMAGE_PIXELS} pixels (slow and memory hungry; shrink them to speed up "
            f"loading): {_listing(large)}",
            stacklevel=3,
        )
    return decoded[:count], skipped


def _warn_skipped(root: Path, skipped: dict[str, list[str]]) -> None:
    total = sum(map(len, skipped.values()))
    if total:
        reasons = "; ".join(
            f"{len(names)} {why}: {_listing(names)}" for why, names in skipped.items() if names
        )
        warnings.warn(f"skipped {total} files under {root}: {reasons}", stacklevel=3)


def _cache_path(
    root: Path, files: list[tuple[str, Callable[[], bytes]]], image_size: int, fit: str
) -> Path:
    """Where the decoded images of ``files`` are cached: a key of everything they depend on."""
    key = hashlib.sha1()
    key.update(json.dumps([DECODER_VERSION, image_size, fit, str(root.resolve())]).encode())
    if root.is_dir():
        for name, _ in files:
            key.update(f"\0{name}\0{_sha256(root / name)}".encode())
    else:
        key.update(f"\0{_sha256(root)}".encode())
    return download.cache_folder() / "decoded" / f"{key.hexdigest()}.npy"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _read_cache(cached: Path, root: Path) -> np.ndarray | None:
    """The cached images, verified; None (after one warning naming the file) if damaged."""
    index = cached.with_suffix(".json")
    try:
        recorded = json.loads(index.read_text())
        skipped, digest = recorded["skipped"], recorded["sha256"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        fault = f"{index}, its index, is unreadable ({type(error).__name__}: {error})"
    else:
        try:
            if _sha256(cached) != digest:
                raise ValueError("its SHA-256 differs from the one recorded when it was written")
            mapped = cached.stat().st_size > IN_MEMORY_FRACTION * available_memory()
            images = np.load(cached, mmap_mode="r" if mapped else None)
        except (OSError, ValueError, EOFError) as error:
            fault = f"{cached} is damaged ({error})"
        else:
            _warn_skipped(root, skipped)
            return images
    warnings.warn(
        f"the decode cache of {root} is damaged: {fault}; decoding the images again",
        stacklevel=3,
    )
    return None


def available_memory() -> int:
    """Bytes of memory available to new allocations (the whole memory where unknown)."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _listing(names: list[str]) -> str:
    return ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")


@contextlib.contextmanager
def _image_files(root: Path) -> Iterator[list[tuple[str, Callable[[], bytes]]]]:
    """``(relative name, read its bytes)`` of each candidate file, sorted by name; a zip file
    stays open while the block runs."""
    if root.is_dir():
        names = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
        yield [(name, (root / name).read_bytes) for name in names if not _hidden(name)]
    elif zipfile.is_zipfile(root):
        with zipfile.ZipFile(root) as archive:
            members = sorted(archive.infolist(), key=lambda info: info.filename)
            outside = [info.filename for info in members if download.climbs_out(info.filename)]
            if outside:
                warnings.warn(
                    f"skipped {len(outside)} member{'s' if len(outside) > 1 else ''} of {root} "
                    f"outside the archive's root: {_listing(outside)}",
                    stacklevel=4,
                )
            members = [info for info in members if not download.climbs_out(info.filename)]
            yield [
                (info.filename, functools.partial(archive.read, info))
                for info in members
                if not info.is_dir() and not _hidden(info.filename)
            ]
    else:
        raise ValueError(f"{root} is neither a folder nor a .zip file; expected one of images")


def _hidden(name: str) -> bool:
    return any(part.startswith(".") or part == "__MACOSX" for part in name.split("/"))


class NonFiniteImageError(ValueError):
    """A floating-point image holds NaN or infinite values."""


def _rgb(image: Image.Image) -> Image.Image:
    if image.mode in SIXTEEN_BIT_MODES:
        return _grey_to_rgb(np.asarray(image, np.float64), 65535.0)
    if image.mode == "F":
        values = np.asarray(image, np.float64)
        if not np.isfinite(values).all():
            raise NonFiniteImageError
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


def _fit(image: Image.Image, image_size: int, fit: str) -> Image.Image:
    """``image`` made square by ``fit`` (see :func:`image_folder`), then resized."""
    width, height = image.size
    if width == height or fit == "stretch":
        return _resize(image, image_size)
    side = min(width, height) if fit == "crop" else max(width, height)
    if fit == "crop":
        left, top = (width - side) // 2, (height - side) // 2
        return _resize(image.crop((left, top, left + side, top + side)), image_size)
    pixels = np.asarray(image)
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    background = tuple(int(v) for v in np.median(border, axis=0))
    square = Image.new("RGB", (side, side), background)
    square.paste(image, ((side - width) // 2, (side - height) // 2))
    return _resize(square, image_size)


def _nchw(images: np.ndarray) -> np.ndarray:
    """uint8 NHWC to uint8 NCHW."""
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2))


def to_model_range(images: np.ndarray) -> np.ndarray:
    """uint8 images (any layout) as the models' float32 in [-1, 1], by :data:`LEVELS`."""
    return LEVELS[images]


def load(
    name_or_path: str, image_size: int = 64, seed: int = 0, fit: str = DEFAULT_FIT
) -> np.ndarray:
    """Load a dataset by name (one of ``DATASETS``) or, failing that, from a path.

    ``seed`` only matters for ``"shapes"``, ``fit`` for images that are not square. A known
    name wins over a folder of the same name.
    """
    if name_or_path == "shapes":
        return shapes(image_size=image_size, seed=seed)
    if name_or_path == "emoji":
        return emoji(image_size)
    if name_or_path == "pokemon":
        return pokemon(image_size, fit)
    if os.path.exists(name_or_path):
        return image_folder(name_or_path, image_size, fit)
    raise ValueError(
        f"unknown dataset {name_or_path!r}: expected one of {', '.join(DATASETS)}, "
        "or the path of an existing folder or .zip file of images"
    )
