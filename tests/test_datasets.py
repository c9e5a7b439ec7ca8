"""Specification of gan_backends.datasets: NumPy arrays, identical whatever the backend."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gan_backends import datasets

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def assert_images(x: np.ndarray, count: int, size: int) -> None:
    assert x.shape == (count, 3, size, size)
    assert x.dtype == np.uint8


@pytest.fixture
def pokemon(tmp_path: Path) -> Path:
    """d2l's layout, pokemon/<class>/<image>, with every awkward kind of file."""
    root = tmp_path / "pokemon"
    for name in ("bulbasaur", "charmander", "squirtle"):
        (root / name).mkdir(parents=True)

    rgba = Image.new("RGBA", (37, 53), (0, 0, 0, 0))  # transparent, odd, non-square
    rgba.paste((255, 0, 0, 255), (10, 15, 27, 38))
    rgba.save(root / "bulbasaur" / "0_rgba.png")

    palette = Image.new("P", (32, 32), 0)
    palette.putpalette([0, 0, 0, *GREEN] + [0] * 762)
    palette.paste(1, (8, 8, 24, 24))
    palette.save(root / "bulbasaur" / "1_palette_transparent.png", transparency=0)
    palette.save(root / "charmander" / "2_palette.png")

    Image.new("L", (40, 40), 77).save(root / "charmander" / "3_grey.png")

    stripes = Image.new("RGB", (20, 60), GREEN)  # tall: red on top, blue at the bottom
    stripes.paste(RED, (0, 0, 20, 20))
    stripes.paste(BLUE, (0, 40, 20, 60))
    stripes.save(root / "squirtle" / "4_stripes.png")

    Image.new("RGB", (50, 30), BLUE).save(root / "squirtle" / "5_photo.jpg", quality=95)

    (root / "squirtle" / "notes.txt").write_text("not an image")
    png = (root / "squirtle" / "4_stripes.png").read_bytes()
    (root / "squirtle" / "truncated.png").write_bytes(png[: len(png) // 2])
    (root / ".DS_Store").write_bytes(b"\x00\x01junk")  # hidden: ignored without a warning
    return root


def load_with_warnings(
    path: Path, image_size: int = 64, fit: str = "pad"
) -> tuple[np.ndarray, list[str]]:
    """The images in the models' range [-1, 1], and the warnings given while loading them."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        x = datasets.image_folder(path, image_size, fit)
    assert x.dtype == np.uint8
    return datasets.to_model_range(x), [str(w.message) for w in caught]


# gaussian


def test_gaussian_is_the_affine_map_of_a_seeded_standard_normal():
    x = datasets.gaussian(500, seed=3)
    assert x.shape == (500, 2) and x.dtype == np.float32
    z = np.random.default_rng(3).standard_normal((500, 2), dtype=np.float32)
    np.testing.assert_allclose(x, z @ datasets.GAUSSIAN_A + datasets.GAUSSIAN_B, atol=1e-6)
    assert not np.array_equal(x, datasets.gaussian(500, seed=4))


def test_gaussian_sample_moments_match_gaussian_moments():
    mean, cov = datasets.gaussian_moments()
    assert mean.dtype == cov.dtype == np.float64
    np.testing.assert_allclose(mean, [1.0, 2.0])
    np.testing.assert_allclose(cov, [[1.01, 1.95], [1.95, 4.25]], rtol=1e-6)
    x = datasets.gaussian(20000).astype(np.float64)
    np.testing.assert_allclose(x.mean(axis=0), mean, atol=0.05)
    np.testing.assert_allclose(np.cov(x.T), cov, atol=0.15)


# shapes


@pytest.mark.parametrize("size", [8, 37, 64])
def test_shapes_shape_dtype_and_range(size: int):
    assert_images(datasets.shapes(64, size), 64, size)


def test_shapes_is_deterministic_per_seed_and_differs_between_seeds():
    a = datasets.shapes(32, 32, seed=7)
    assert np.array_equal(a, datasets.shapes(32, 32, seed=7))
    assert not np.array_equal(a, datasets.shapes(32, 32, seed=8))


def test_shapes_draws_a_coloured_sprite_on_a_light_background():
    x = datasets.to_model_range(datasets.shapes(256, 32, seed=0))
    corners = x[:, :, [0, 0, -1, -1], [0, -1, 0, -1]]  # (n, 3, 4)
    assert corners.min() > 0.7  # light background, and the sprite stays inside the image
    assert np.array_equal(corners, np.repeat(corners[:, :, :1], 4, axis=2))
    ink = np.abs(x - corners[:, :, :1, None]).sum(axis=1).max(axis=(1, 2))
    assert ink.min() > 0.5  # every image holds a clearly visible sprite
    assert len(np.unique(x[:, :, 16, 16].round(2), axis=0)) > 50  # random colours


# emoji


def test_emoji_loads_the_packaged_images_on_white():
    x = datasets.emoji()
    assert 1800 <= len(x) <= 2000
    assert_images(x, len(x), 64)
    assert np.median(x[:, :, 0, 0]) == 255  # composited onto white


def test_emoji_resizes_with_the_shared_resampler():
    with np.load(datasets.EMOJI_FILE) as archive:
        stored = archive["images"]
    x = datasets.emoji(16)
    assert_images(x, len(stored), 16)
    first = stored[0]
    expected = np.asarray(Image.fromarray(first).resize((16, 16), datasets.RESAMPLE))
    np.testing.assert_array_equal(x[0], expected.transpose(2, 0, 1))


def test_emoji_file_holds_no_skin_tone_variants():
    with np.load(datasets.EMOJI_FILE) as archive:
        names = archive["names"]
        assert archive["images"].dtype == np.uint8
    assert len(names) == len(set(names))
    assert not [n for n in names if any(f"1f3f{c}" in n for c in "bcdef")]


def test_emoji_missing_file_says_how_to_build_it(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "EMOJI_FILE", tmp_path / "emoji.npz")
    with pytest.raises(FileNotFoundError, match=r"tools/build_emoji_dataset\.py"):
        datasets.emoji()


# image_folder


def test_image_folder_reads_nested_folders_in_sorted_order(pokemon):
    x, _ = load_with_warnings(pokemon)
    assert x.shape == (6, 3, 64, 64)
    centres = x[:, :, 32, 32]
    np.testing.assert_allclose(centres[0], [1, -1, -1], atol=0.02)  # bulbasaur/0_rgba: red
    np.testing.assert_allclose(centres[1], [-1, 1, -1], atol=0.02)  # bulbasaur/1_palette...
    np.testing.assert_allclose(centres[5], [-1, -1, 1], atol=0.05)  # squirtle/5_photo.jpg


def test_image_folder_composites_transparency_onto_white(pokemon):
    x, _ = load_with_warnings(pokemon)
    assert np.all(x[0, :, :5, :5] == 1.0)  # RGBA
    assert np.all(x[1, :, :5, :5] == 1.0)  # palette with a transparent index
    assert np.all(x[2, :, :5, :5] == -1.0)  # the same palette without transparency: black


def test_image_folder_turns_greyscale_into_equal_rgb_channels(pokemon):
    grey = load_with_warnings(pokemon)[0][3]
    assert np.all(grey[0] == grey[1]) and np.all(grey[1] == grey[2])
    np.testing.assert_allclose(grey, 77 / 127.5 - 1, atol=1e-6)


def test_stretch_resizes_non_square_images_straight_as_d2l_does(pokemon):
    stripes = load_with_warnings(pokemon, fit="stretch")[0][4]
    np.testing.assert_allclose(stripes[:, 2, 32], [1, -1, -1], atol=0.02)
    np.testing.assert_allclose(stripes[:, 32, 32], [-1, 1, -1], atol=0.02)
    np.testing.assert_allclose(stripes[:, 61, 32], [-1, -1, 1], atol=0.02)


PAPER, INK = (10, 200, 30), (250, 20, 20)


@pytest.fixture
def wide_sprite(tmp_path: Path) -> Path:
    """A 60x30 sprite: a 10x10 square of ink in the middle of paper."""
    image = Image.new("RGB", (60, 30), PAPER)
    image.paste(INK, (25, 10, 35, 20))
    folder = tmp_path / "wide"
    folder.mkdir()
    image.save(folder / "sprite.png")
    return folder


def test_pad_letterboxes_on_the_background_colour_without_distortion(wide_sprite):
    x = datasets.image_folder(wide_sprite, 60, fit="pad")[0].transpose(1, 2, 0)
    assert (x[:14] == PAPER).all() and (x[-14:] == PAPER).all()  # bands above and below
    ink = np.argwhere((np.abs(x.astype(int) - INK) < 30).all(axis=-1))
    assert (ink.min(axis=0) >= 24).all() and (ink.max(axis=0) <= 35).all()
    heights, widths = np.ptp(ink, axis=0) + 1
    assert heights == widths  # still a square


def test_crop_keeps_the_centred_square(wide_sprite):
    x = datasets.image_folder(wide_sprite, 30, fit="crop")[0].transpose(1, 2, 0)
    ink = np.argwhere((np.abs(x.astype(int) - INK) < 30).all(axis=-1))
    assert ink.min(axis=0).tolist() == [10, 10] and ink.max(axis=0).tolist() == [19, 19]
    assert (x[0] == PAPER).all()


def test_square_images_are_the_same_whatever_the_fit(pokemon):
    grey = [load_with_warnings(pokemon, fit=fit)[0][3] for fit in datasets.FITS]
    assert all(np.array_equal(grey[0], other) for other in grey[1:])


def test_an_unknown_fit_is_named(pokemon):
    with pytest.raises(ValueError, match="--fit must be one of pad, stretch, crop; got 'squash'"):
        datasets.image_folder(pokemon, fit="squash")


def test_image_folder_skips_unreadable_files_with_one_warning(pokemon):
    _, messages = load_with_warnings(pokemon)
    assert len(messages) == 1
    assert "skipped 2 files" in messages[0] and str(pokemon) in messages[0]
    assert "notes.txt" in messages[0] and "truncated.png" in messages[0]


def test_image_folder_resizes_to_image_size(pokemon):
    assert load_with_warnings(pokemon, 16)[0].shape == (6, 3, 16, 16)


def test_image_folder_reads_a_zip_like_the_folder(pokemon, tmp_path):
    archive = tmp_path / "pokemon.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in sorted(pokemon.rglob("*"), reverse=True):  # order must not matter
            z.write(path, path.relative_to(tmp_path).as_posix())
        z.writestr("__MACOSX/pokemon/._0_rgba.png", b"resource fork")
    from_zip, messages = load_with_warnings(archive)
    np.testing.assert_array_equal(from_zip, load_with_warnings(pokemon)[0])
    assert len(messages) == 1 and "skipped 2 files" in messages[0]


def test_image_folder_rejects_a_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        datasets.image_folder(tmp_path / "nowhere")


def test_image_folder_rejects_an_empty_folder(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=r"empty holds no files; expected image files"):
        datasets.image_folder(empty)


def test_image_folder_rejects_a_folder_without_readable_images(tmp_path):
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "b.bin").write_bytes(b"\x89PNG broken")
    with pytest.raises(ValueError, match=r"2 not readable as images: a\.txt, b\.bin"):
        datasets.image_folder(tmp_path)


def test_image_folder_rejects_a_file_that_is_not_a_zip(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "single.png")
    with pytest.raises(ValueError, match=r"single\.png.*folder.*\.zip"):
        datasets.image_folder(tmp_path / "single.png")


# load


def test_load_dispatches_names_and_paths(pokemon):
    assert datasets.DATASETS == ("emoji", "shapes", "pokemon")
    assert datasets.DEFAULT_DATASET in datasets.DATASETS
    np.testing.assert_array_equal(
        datasets.load("shapes", 16, seed=2), datasets.shapes(image_size=16, seed=2)
    )
    assert datasets.load("emoji", 8).shape[1:] == (3, 8, 8)
    with pytest.warns(UserWarning, match="skipped 2 files"):
        from_path = datasets.load(str(pokemon), 16)
    np.testing.assert_array_equal(
        datasets.to_model_range(from_path), load_with_warnings(pokemon, 16)[0]
    )


def test_load_rejects_an_unknown_name_listing_the_known_ones():
    with pytest.raises(ValueError, match=r"'digimon'.*emoji, shapes, pokemon.*existing"):
        datasets.load("digimon")


def test_loading_imports_no_deep_learning_framework():
    code = (
        "import sys; from gan_backends import datasets; datasets.load('shapes', 8); "
        "print(sorted({'torch', 'tensorflow', 'mxnet', 'jax'} & set(sys.modules)))"
    )
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def grey(value: int) -> tuple[int, int, int]:
    return (value, value, value)


def constant(array_value, dtype) -> Image.Image:
    return Image.fromarray(np.full((8, 8), array_value, dtype))


def big_endian_16_bit(value: int) -> Image.Image:
    return Image.frombytes("I;16B", (8, 8), np.full((8, 8), value, ">u2").tobytes())


def two_frames(first, second) -> Callable[[Path], None]:
    frames = [Image.new("RGB", (8, 8), colour) for colour in (first, second)]
    return lambda path: frames[0].save(path, save_all=True, append_images=frames[1:])


# file name, how to write it, the RGB every pixel must become (within 3: JPEG is lossy; LAB
# within 8: Pillow's own RGB -> LAB -> RGB round trip is approximate)
IMAGE_MODES = [
    ("grey16.png", lambda p: constant(25700, np.uint16).save(p), grey(100)),
    ("grey16_big_endian.tif", lambda p: big_endian_16_bit(51400).save(p), grey(200)),
    ("grey32.tif", lambda p: constant(32896, np.int32).save(p), grey(128)),
    ("float_unit.tif", lambda p: constant(0.5, np.float32).save(p), grey(128)),
    ("float_bytes.tif", lambda p: constant(200.0, np.float32).save(p), grey(200)),
    ("bilevel.png", lambda p: Image.new("1", (8, 8), 1).save(p), grey(255)),
    ("cmyk.jpg", lambda p: Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(p, quality=100), RED),
    ("cmyk.tif", lambda p: Image.new("CMYK", (8, 8), (255, 0, 255, 0)).save(p), GREEN),
    ("ycbcr.tif", lambda p: Image.new("RGB", (8, 8), BLUE).convert("YCbCr").save(p), BLUE),
    ("lab.tif", lambda p: Image.new("RGB", (8, 8), RED).convert("LAB").save(p), RED),
    ("grey_alpha.png", lambda p: Image.new("LA", (8, 8), (0, 0)).save(p), grey(255)),
    ("rgba_half.png", lambda p: Image.new("RGBA", (8, 8), (0, 0, 0, 128)).save(p), grey(127)),
    ("webp.webp", lambda p: Image.new("RGB", (8, 8), GREEN).save(p, lossless=True), GREEN),
    ("first_frame.gif", two_frames(BLUE, RED), BLUE),
]


@pytest.mark.parametrize(("name", "write", "rgb"), IMAGE_MODES, ids=[m[0] for m in IMAGE_MODES])
def test_every_image_mode_pillow_opens_becomes_the_right_rgb(tmp_path, name, write, rgb):
    write(tmp_path / name)
    assert load_with_warnings(tmp_path, image_size=8)[1] == []
    pixels = datasets.image_folder(tmp_path, 8)[0].transpose(1, 2, 0).reshape(-1, 3)
    tolerance = 8 if name.startswith("lab") else 3
    np.testing.assert_allclose(pixels, np.broadcast_to(rgb, pixels.shape), atol=tolerance)


def test_an_image_too_large_to_decode_is_skipped_not_fatal(tmp_path, monkeypatch):
    Image.new("RGB", (64, 64), RED).save(tmp_path / "huge.png")
    Image.new("RGB", (8, 8), BLUE).save(tmp_path / "small.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 64 x 64 is over twice the limit
    images, messages = load_with_warnings(tmp_path, image_size=8)
    assert images.shape == (1, 3, 8, 8)
    assert messages == [f"skipped 1 files under {tmp_path}: 1 too large to decode: huge.png"]


# the decoded cache


def cached_files(cache: Path) -> list[Path]:
    return sorted((cache / "decoded").glob("*.npy"))


def test_a_second_load_reads_the_cache_and_repeats_the_warning(pokemon, data_cache):
    first, first_messages = load_with_warnings(pokemon)
    assert len(cached_files(data_cache)) == 1
    second, second_messages = load_with_warnings(pokemon)
    np.testing.assert_array_equal(second, first)
    assert second_messages == first_messages and len(first_messages) == 1
    assert len(cached_files(data_cache)) == 1


def test_the_cache_is_decoded_again_when_a_file_changes(pokemon, data_cache):
    before, _ = load_with_warnings(pokemon)
    Image.new("L", (40, 40), 200).save(pokemon / "charmander" / "3_grey.png")
    after, _ = load_with_warnings(pokemon)
    np.testing.assert_allclose(after[3], 200 / 127.5 - 1, atol=1e-6)
    np.testing.assert_array_equal(np.delete(after, 3, 0), np.delete(before, 3, 0))
    assert len(cached_files(data_cache)) == 2


def test_the_size_and_the_fit_have_caches_of_their_own(pokemon, data_cache):
    for size, fit in [(16, "pad"), (32, "pad"), (16, "crop")]:
        load_with_warnings(pokemon, size, fit)
    assert len(cached_files(data_cache)) == 3


def test_a_cached_data_set_too_large_for_memory_is_memory_mapped(pokemon, monkeypatch):
    in_memory, _ = load_with_warnings(pokemon)
    monkeypatch.setattr(datasets, "IN_MEMORY_FRACTION", 0.0)
    with pytest.warns(UserWarning, match="skipped 2 files"):
        mapped = datasets.image_folder(pokemon)
    assert isinstance(mapped, np.memmap)
    np.testing.assert_array_equal(datasets.to_model_range(mapped), in_memory)


def test_levels_are_exactly_the_old_float_conversion():
    levels = np.arange(256, dtype=np.uint8)
    old = levels.astype(np.float32)
    old /= 127.5
    old -= 1.0
    np.testing.assert_array_equal(datasets.to_model_range(levels), old)
    assert datasets.LEVELS.dtype == np.float32


def two_pictures(folder: Path) -> Path:
    """Two uncompressed pictures: a changed pixel keeps the file's size."""
    folder.mkdir()
    Image.new("RGB", (8, 8), RED).save(folder / "a.ppm")
    Image.new("RGB", (8, 8), BLUE).save(folder / "b.ppm")
    return folder


def test_a_picture_changed_under_the_same_size_and_time_is_decoded_again(tmp_path, data_cache):
    folder = two_pictures(tmp_path / "pictures")
    before, _ = load_with_warnings(folder, 8)
    changed = folder / "a.ppm"
    times = changed.stat()
    Image.new("RGB", (8, 8), BLUE).save(changed)
    os.utime(changed, ns=(times.st_atime_ns, times.st_mtime_ns))
    assert changed.stat().st_size == times.st_size
    after, messages = load_with_warnings(folder, 8)
    np.testing.assert_array_equal(after[0], before[1])
    assert messages == []


@pytest.mark.parametrize("damage", ["flipped byte", "truncated", "index not JSON"])
def test_a_damaged_decode_cache_is_named_in_one_warning_and_rebuilt(tmp_path, data_cache, damage):
    folder = two_pictures(tmp_path / "pictures")
    intact, _ = load_with_warnings(folder, 8)
    [cached] = cached_files(data_cache)
    data = bytearray(cached.read_bytes())
    if damage == "flipped byte":
        data[-1] ^= 0x01
        cached.write_bytes(bytes(data))
        fault = f"{cached} is damaged (its SHA-256 differs from the one recorded when it was "
    elif damage == "truncated":
        cached.write_bytes(bytes(data[:5]))
        fault = f"{cached} is damaged ("
    else:
        cached.with_suffix(".json").write_text('{"skipped": ')
        fault = f"{cached.with_suffix('.json')}, its index, is unreadable (JSONDecodeError: "
    images, messages = load_with_warnings(folder, 8)
    np.testing.assert_array_equal(images, intact)
    assert len(messages) == 1
    assert messages[0].startswith(f"the decode cache of {folder} is damaged: {fault}")
    assert messages[0].endswith("; decoding the images again")
    assert load_with_warnings(folder, 8)[1] == []  # rebuilt


def test_zip_members_outside_the_archives_root_are_named(tmp_path):
    archive = tmp_path / "pictures.zip"
    picture = io.BytesIO()
    Image.new("RGB", (8, 8), RED).save(picture, format="PNG")
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("pictures/red.png", picture.getvalue())
        z.writestr("../escaped.png", picture.getvalue())
        z.writestr("pictures/../../up.png", picture.getvalue())
    images, messages = load_with_warnings(archive, 8)
    assert images.shape == (1, 3, 8, 8)
    assert messages == [
        f"skipped 2 members of {archive} outside the archive's root: ../escaped.png, "
        "pictures/../../up.png"
    ]


def test_a_picture_over_pillows_safety_threshold_is_named(tmp_path, monkeypatch):
    Image.new("RGB", (40, 40), RED).save(tmp_path / "large.png")
    Image.new("RGB", (8, 8), BLUE).save(tmp_path / "small.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 1,600 pixels: over, under twice
    images, messages = load_with_warnings(tmp_path, image_size=8)
    assert images.shape == (2, 3, 8, 8)
    assert messages == [
        "decoded 1 image of more than 1000 pixels (slow and memory hungry; shrink them to "
        "speed up loading): large.png"
    ]


def test_a_picture_holding_nan_is_skipped_and_named(tmp_path):
    values = np.full((8, 8), 0.5, np.float32)
    values[2, 3] = np.nan
    Image.fromarray(values, mode="F").save(tmp_path / "nan.tiff")
    Image.new("RGB", (8, 8), BLUE).save(tmp_path / "fine.png")
    images, messages = load_with_warnings(tmp_path, image_size=8)
    assert images.shape == (1, 3, 8, 8)
    assert messages == [
        f"skipped 1 files under {tmp_path}: 1 holding NaN or infinite values: nan.tiff"
    ]
