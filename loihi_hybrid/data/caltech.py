"""Caltech-101 airplanes loader for the LocNet (bounding-box regression) task.

Layouts, auto-detected under ``root``:

* original: ``101_ObjectCategories/airplanes/image_NNNN.jpg`` (or flattened ``images/image_NNNN.jpg``)
  + ``Annotations/Airplanes_Side_2/annotation_NNNN.mat`` with ``box_coord = [top, bottom, left, right]``;
* CSV: ``images/`` + ``airplanes.csv`` rows ``filename,startX,startY,endX,endY`` (= left, top, right,
  bottom), header optional.

Both give 1-based inclusive pixel coordinates; boxes become ``[x0, y0, x1, y1]`` in [0, 1] with
``x0 = (left - 1) / width``, ``x1 = right / width`` (pixel edges), same for y.  When both annotation
sources exist the .mat files win (they are the original annotations).
"""
from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image, UnidentifiedImageError

from loihi_hybrid.data.splits import build_splits, check_size
from loihi_hybrid.data.types import ArraySplit, DataSplits, warn_skip
from loihi_hybrid.errors import DataError

IMAGE_DIRS = ("101_ObjectCategories/airplanes", "images")
MAT_DIR = "Annotations/Airplanes_Side_2"
CSV_NAME = "airplanes.csv"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
# Boxes may poke out of the image by up to one pixel from rounding in the annotation tool;
# anything further is a wrong annotation.
EDGE_TOLERANCE_PX = 1.0
_CSV_COLUMNS = ("filename", "startx", "starty", "endx", "endy")
#: larger images are skipped unread: Caltech images are ~300x200, and a decompression bomb (a small file
#: that decodes to gigabytes) must not stop the whole load. Pillow's own limit (Image.MAX_IMAGE_PIXELS)
#: is honoured too, its warnings treated as errors.
MAX_PIXELS = 50_000_000
#: single-channel modes decoded as integers wider than 8 bits: (full-scale value of the mode)
_WIDE_MODES = {"I;16": 65535, "I;16B": 65535, "I;16L": 65535, "I;16N": 65535, "I": 65535}

Box = tuple[float, float, float, float]  # (left, top, right, bottom), 1-based inclusive pixels


def load_caltech(
    root: str | Path,
    size: tuple[int, int] = (48, 72),
    seed: int = 0,
    test_frac: float = 0.1,
    val_frac: float = 0.1,
) -> DataSplits:
    """Load Caltech airplanes as LocNet splits; ``size`` = (H, W) of the resized images."""
    root = Path(root)
    height, width = check_size(size)
    if not root.is_dir():
        raise DataError(root, "Caltech airplanes folder not found")
    image_dir = next((root / d for d in IMAGE_DIRS if (root / d).is_dir()), None)
    if image_dir is None:
        raise DataError(root, f"no image folder ({' or '.join(IMAGE_DIRS)}) found")
    images = sorted(
        p for p in image_dir.iterdir()
        if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("._")
    )
    if not images:
        raise DataError(image_dir, "no images found")

    skipped: list[tuple[str, str]] = []
    mat_dir = root / MAT_DIR
    if mat_dir.is_dir() and any(mat_dir.glob("annotation_*.mat")):
        def get_box(image: Path) -> Box | None:
            return _read_mat_box(mat_dir, image, skipped)
    elif (root / CSV_NAME).is_file():
        csv_boxes = _read_csv(root / CSV_NAME, skipped)

        def get_box(image: Path) -> Box | None:
            if image.name not in csv_boxes:
                warn_skip(skipped, image, f"no row in {CSV_NAME}")
            return csv_boxes.get(image.name)
    else:
        raise DataError(root, f"no annotations found ({MAT_DIR}/*.mat or {CSV_NAME})")

    xs, ys, names, orig = [], [], [], []
    for path in images:
        box = get_box(path)
        if box is None:
            continue
        loaded = _load_image(path, (height, width), skipped)
        if loaded is None:
            continue
        pixels, (orig_h, orig_w) = loaded
        norm = _normalise_box(box, orig_w, orig_h)
        if isinstance(norm, str):
            warn_skip(skipped, path, norm)
            continue
        xs.append(pixels)
        ys.append(norm)
        names.append(path.name)
        orig.append((orig_h, orig_w))
    if not xs:
        raise DataError(root, "no usable images (all were left out, see warnings)")

    data = ArraySplit(
        x=np.stack(xs),
        y=np.asarray(ys, dtype=np.float32),
        names=names,
        groups=np.arange(len(xs), dtype=np.int64),
        orig_size=np.asarray(orig, dtype=np.int64),
    )
    return build_splits(data, seed, test_frac, val_frac, str(root), "locnet", skipped)


def _read_mat_box(mat_dir: Path, image: Path, skipped: list[tuple[str, str]]) -> Box | None:
    """Box from the .mat annotation matching ``image_NNNN.jpg``; None (and a warning) if unusable."""
    number = image.stem.rsplit("_", 1)[-1]
    path = mat_dir / f"annotation_{number}.mat"
    if not path.is_file():
        warn_skip(skipped, image, f"no annotation file {path.name}")
        return None
    try:
        coords = np.asarray(scipy.io.loadmat(str(path))["box_coord"], dtype=np.float64).ravel()
    except (OSError, ValueError, TypeError, KeyError, NotImplementedError,
            scipy.io.matlab.MatReadError) as err:
        warn_skip(skipped, path, f"unreadable annotation ({type(err).__name__}: {err})")
        return None
    if coords.size != 4:
        warn_skip(skipped, path, f"box_coord has {coords.size} values, expected 4")
        return None
    top, bottom, left, right = coords
    return left, top, right, bottom


def _read_csv(path: Path, skipped: list[tuple[str, str]]) -> dict[str, Box]:
    """Parse ``airplanes.csv`` into {file name: box}; bad rows are skipped, a bad file raises."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = [(n, r) for n, r in enumerate(csv.reader(fh), start=1) if any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise DataError(path, f"cannot read CSV ({err})") from None
    if not rows:
        raise DataError(path, "CSV is empty")
    order = list(range(5))
    first = rows[0][1]
    if not _is_number_row(first):  # a header line: use its column names when it has them
        header = [c.strip().lower() for c in first]
        if set(_CSV_COLUMNS) <= set(header):
            order = [header.index(c) for c in _CSV_COLUMNS]
        elif len(header) != 5:
            raise DataError(path, f"header has {len(header)} columns, expected {','.join(_CSV_COLUMNS)}")
        rows = rows[1:]
    boxes: dict[str, Box] = {}
    for line, row in rows:
        try:
            fields = [row[i].strip() for i in order]
            left, top, right, bottom = (float(v) for v in fields[1:])
        except (IndexError, ValueError):
            warn_skip(skipped, f"{path}:{line}", f"malformed row {','.join(row)!r}")
            continue
        boxes[Path(fields[0]).name] = (left, top, right, bottom)
    if not boxes:
        raise DataError(path, "no valid rows (expected filename,startX,startY,endX,endY)")
    return boxes


def _is_number_row(row: list[str]) -> bool:
    try:
        [float(v) for v in row[1:5]]
    except ValueError:
        return False
    return len(row) >= 5


def _load_image(
    path: Path, size: tuple[int, int], skipped: list[tuple[str, str]]
) -> tuple[np.ndarray, tuple[int, int]] | None:
    """RGB float32 CHW image in [0, 1] resized to ``size`` (H, W), and its original (H, W); None if unusable.

    Any bit depth and mode: 8-bit modes (L, P, LA, PA, RGBA, CMYK, 1, ...) are converted to RGB; 16-bit
    greyscale (``I;16``, and ``I`` as older Pillow decodes 16-bit PNGs) is scaled by 65535, not clipped
    at 255; float (``F``) must already lie in [0, 1]. Anything else, unreadable files and images over
    :data:`MAX_PIXELS` (decompression bombs) are left out with a warning."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:  # reads the header only
                orig_w, orig_h = img.size
                if orig_w * orig_h > MAX_PIXELS:
                    pixels: np.ndarray | str = (f"{orig_w}x{orig_h} pixels is over the {MAX_PIXELS:,} pixel "
                                                "limit (possible decompression bomb)")
                else:
                    img.load()  # decode now so truncated files fail here, not later
                    pixels = _to_rgb_float(img, (size[1], size[0]))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        warn_skip(skipped, path, f"possible decompression bomb ({err})")
        return None
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError, MemoryError) as err:
        warn_skip(skipped, path, f"unreadable image ({type(err).__name__}: {err})")
        return None
    if isinstance(pixels, str):
        warn_skip(skipped, path, pixels)
        return None
    return np.ascontiguousarray(pixels), (orig_h, orig_w)


def _to_rgb_float(img: Image.Image, wh: tuple[int, int]) -> np.ndarray | str:
    """(3, H, W) float32 in [0, 1] resized (bilinear) to ``wh`` = (W, H), or a reason to skip the image."""
    if img.mode in _WIDE_MODES or img.mode == "F":
        a = np.asarray(img, dtype=np.float64)
        if not np.all(np.isfinite(a)):
            return f"mode {img.mode} image has NaN or infinite pixels"
        full = _WIDE_MODES.get(img.mode, 1.0)
        if a.min() < 0 or a.max() > full:
            return (f"mode {img.mode} pixel values {a.min():g}..{a.max():g} outside 0..{full:g} "
                    "(unsupported bit depth)")
        grey = Image.fromarray((a / full).astype(np.float32)).resize(wh, Image.BILINEAR)
        g = np.clip(np.asarray(grey, dtype=np.float32), 0.0, 1.0)
        return np.repeat(g[None], 3, axis=0)
    if img.mode in ("P", "PA") and "transparency" in img.info:
        img = img.convert("RGBA")  # palette transparency: through RGBA as Pillow recommends
    rgb = img.convert("RGB").resize(wh, Image.BILINEAR)  # raises ValueError for unsupported modes
    return np.asarray(rgb, dtype=np.float32).transpose(2, 0, 1) / 255.0


def _normalise_box(box: Box, width: int, height: int) -> tuple[float, float, float, float] | str:
    """1-based inclusive (left, top, right, bottom) -> [x0, y0, x1, y1] in [0, 1], or a reason to skip."""
    left, top, right, bottom = box
    if not np.all(np.isfinite(box)):
        return f"non-finite box {box}"
    if right <= left or bottom <= top:
        return f"degenerate box (left={left:g}, top={top:g}, right={right:g}, bottom={bottom:g})"
    tol = EDGE_TOLERANCE_PX
    if left - 1 < -tol or top - 1 < -tol or right > width + tol or bottom > height + tol:
        return (f"box (left={left:g}, top={top:g}, right={right:g}, bottom={bottom:g}) "
                f"outside the {width}x{height} image")
    x0, y0, x1, y1 = (left - 1) / width, (top - 1) / height, right / width, bottom / height
    return tuple(float(np.clip(v, 0.0, 1.0)) for v in (x0, y0, x1, y1))
