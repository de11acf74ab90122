"""The placed protocol: exact box transform on hand cases, determinism, backgrounds from the same split."""
import numpy as np
import pytest

from loihi_hybrid.data import ArraySplit
from loihi_hybrid.data.placed import draw, feather, place, placed_augment, placed_split


def _photo(c=3, h=20, w=40, value=1.0):
    return np.full((c, h, w), value, np.float32)


@pytest.mark.parametrize("f, top, left, box, expected", [
    # a box filling the photo, f = 0.4, at the canvas's top-left corner: 8x16 pixels of 20x40
    (0.4, 0, 0, [0, 0, 1, 1], [0.0, 0.0, 0.4, 0.4]),
    # f = 0.8 at the bottom-right corner: 16x32 pixels ending at the canvas edge
    (0.8, 4, 8, [0, 0, 1, 1], [0.2, 0.2, 1.0, 1.0]),
    # a box inside the photo: [0.25, 0.5, 0.75, 1.0] of a 16x32 paste at (2, 4)
    (0.8, 2, 4, [0.25, 0.5, 0.75, 1.0], [(4 + 8) / 40, (2 + 8) / 20, (4 + 24) / 40, (2 + 16) / 20]),
])
def test_box_moves_and_scales_with_the_photo(f, top, left, box, expected):
    img, moved = place(_photo(), np.array(box, np.float32), _photo(value=0.0), f, top, left)
    np.testing.assert_allclose(moved, expected, atol=1e-6)
    h, w = int(round(f * 20)), int(round(f * 40))
    inside = img[:, top:top + h, left:left + w]
    assert inside[:, h // 2, w // 2].min() == pytest.approx(1.0)   # photo centre: opaque
    if 0.03 * w > 0.5:                                             # a ramp wider than half a pixel
        assert img[:, top + h // 2, left].max() < 1.0              # feathers the border
    outside = np.ones(img.shape[1:], bool)
    outside[top:top + h, left:left + w] = False
    assert img[:, outside].max() == 0.0                             # the (black, blurred) background


def test_placement_must_fit_the_canvas():
    with pytest.raises(ValueError, match="does not fit"):
        place(_photo(), np.array([0, 0, 1, 1]), _photo(), 0.8, 5, 0)


def test_feather_ramp_over_three_percent_of_the_width():
    a = feather(10, 100, 3.0)
    np.testing.assert_allclose(a[5, :4], [0.5 / 3, 1.5 / 3, 2.5 / 3, 1.0])
    assert a[5, 50] == 1.0 and a[0, 50] == pytest.approx(0.5 / 3)


def test_background_is_blurred_with_four_percent_of_the_width():
    bg = np.zeros((1, 20, 40), np.float32)
    bg[0, :, 20:] = 1.0                                     # a sharp vertical edge
    img, _ = place(np.zeros((1, 20, 40), np.float32), np.array([0, 0, 1, 1]), bg, 0.4, 0, 0)
    row = img[0, 15]
    assert 0.0 < row[19] < 0.5 < row[20] < 1.0              # sigma = 1.6 px: the edge is soft


def test_draw_is_uniform_in_range_and_never_its_own_background():
    rng = np.random.default_rng(0)
    draws = [draw(rng, (3, 48, 72), 5, own=2) for _ in range(2000)]
    fs = np.array([d[0] for d in draws])
    assert 0.4 <= fs.min() and fs.max() <= 0.8 and abs(fs.mean() - 0.6) < 0.01
    assert {d[3] for d in draws} == {0, 1, 3, 4}
    for f, top, left, _ in draws:
        assert 0 <= top <= 48 - round(f * 48) and 0 <= left <= 72 - round(f * 72)


def _split(n=6, seed=1):
    rng = np.random.default_rng(seed)
    return ArraySplit(x=rng.random((n, 3, 12, 16)).astype(np.float32),
                      y=np.tile(np.array([[0.1, 0.2, 0.9, 0.8]], np.float32), (n, 1)),
                      names=[f"img{i}" for i in range(n)], groups=np.arange(n), orig_size=np.full((n, 2), 100))


def test_placed_split_is_deterministic_by_seed():
    s = _split()
    a, b, c = placed_split(s, 7), placed_split(s, 7), placed_split(s, 8)
    assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
    assert not np.array_equal(a.x, c.x)
    assert a.names[0] == "placed:img0" and np.array_equal(a.orig_size, s.orig_size)


def test_training_augmentation_uses_only_its_pool():
    """Backgrounds come from the pool given (the training split): a test photo can never appear."""
    train, test = _split(seed=1), _split(seed=2)
    aug = placed_augment(np.zeros_like(train.x), fraction=1.0)   # a pool of black photos
    x, y = aug(test.x, test.y, np.random.default_rng(0))
    for img, box in zip(x, y):
        x0, y0, x1, y1 = box
        assert x1 - x0 <= 0.8 * 0.8 + 1e-6                        # the box shrank with its photo
    # every pixel outside the pasted photos is the black (training) background
    assert np.isclose(x, 0).mean() > 0.25
    x2, _ = placed_augment(np.zeros_like(train.x), fraction=0.0)(test.x, test.y, np.random.default_rng(0))
    assert np.array_equal(x2, test.x)
