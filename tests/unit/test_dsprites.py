"""The procedural dSprites-like source: deterministic from its seed, factors match the pixels, registered."""

import numpy as np
import pytest

from genlab.data.registry import class_names, load_dataset
from genlab.data.sources.sprites import FACTOR_SIZES, make_sprites, render, sample_factors
from genlab.errors import GenlabError


def test_same_seed_same_images_and_factors_other_seed_differs():
    a, b, c = make_sprites(64, seed=5, size=32), make_sprites(64, seed=5, size=32), make_sprites(64, seed=6, size=32)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.factors, b.factors)
    assert not np.array_equal(a.factors, c.factors)
    assert a.images.shape == (64, 32, 32) and a.image_shape == (1, 32, 32)
    assert set(np.unique(a.images)) <= {0, 255}
    assert (a.factors.min(0) >= 0).all() and (a.factors < np.array(FACTOR_SIZES)).all()
    assert np.array_equal(a.labels, a.factors[:, 0]) and a.num_classes == 3


def test_factors_move_the_pixels_as_named():
    base = np.array([[0, 5, 0, 16, 16]])
    def mass_centre(f):
        img = render(np.array(f), 64)[0].astype(float)
        ys, xs = np.nonzero(img)
        return xs.mean(), ys.mean(), img.sum() / 255
    x0, y0, area0 = mass_centre(base)
    x1, _, _ = mass_centre(base + [[0, 0, 0, 10, 0]])
    _, y1, _ = mass_centre(base + [[0, 0, 0, 0, 10]])
    _, _, area_small = mass_centre(base - [[0, 5, 0, 0, 0]])
    assert x1 > x0 + 5 and y1 > y0 + 5  # x to the right, y down the image rows
    assert area_small < 0.4 * area0  # scale 0.5 → a quarter of the area
    # rotating a square by 45° (5 of 40 steps) changes its pixels but hardly its area
    rot = render(np.array(base + [[0, 0, 5, 0, 0]]), 64)[0]
    assert not np.array_equal(rot, render(base, 64)[0]) and abs(rot.sum() / 255 - area0) < 0.1 * area0
    shapes = [render(np.array([[s, 5, 0, 16, 16]]), 64)[0] for s in range(3)]
    assert len({img.tobytes() for img in shapes}) == 3


def test_registered_loader_splits_and_subset_keep_factors():
    train = load_dataset("dsprites", "train", data_dir="unused", download=False, n=50, size=16, seed=3)
    test = load_dataset("dsprites", "test", data_dir="unused", download=False, n=50, size=16, seed=3)
    assert len(train) == 50 and len(test) == 10
    assert np.array_equal(test.factors, sample_factors(10, 4))
    sub = train.subset([3, 1])
    assert np.array_equal(sub.factors, train.factors[[3, 1]]) and np.array_equal(sub.images[0], train.images[3])
    assert class_names("dsprites") == ("square", "ellipse", "heart")


def test_bad_options_are_one_line_errors():
    with pytest.raises(GenlabError, match="'size' = 30"):
        make_sprites(4, size=30)
    with pytest.raises(GenlabError, match="'n' = 0"):
        make_sprites(0)
    with pytest.raises(GenlabError, match="split 'val'"):
        load_dataset("dsprites", "val", data_dir="unused")
    with pytest.raises(GenlabError, match="does not take"):
        load_dataset("dsprites", "train", data_dir="unused", colour=1)
