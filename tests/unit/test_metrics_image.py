"""Image metrics: Fréchet distance vs scipy, FID/KID/IS/PR limits, class balance, memorisation, the floor."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.linalg
import torch

from genlab.errors import GenlabError
from genlab.metrics.features import FeatureNet
from genlab.metrics.image import (
    FID,
    FLOOR_DRAWS,
    KID,
    ClassBalance,
    InceptionScore,
    Memorisation,
    PrecisionRecall,
    distance_ratio,
    evaluate_features,
    evaluate_images,
    feature_fid,
    floor_draw_seeds,
    floor_fids,
    floor_indices,
    floor_text,
    real_floor,
)


def _features(n: int, dim: int, seed: int, shift: float = 0.0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    mixing = torch.randn(dim, dim, generator=torch.Generator().manual_seed(99)) / math.sqrt(dim)
    return torch.randn(n, dim, generator=gen) @ mixing + shift


def _scipy_frechet(mu1, s1, mu2, s2) -> float:
    """Independent reference: the pytorch-fid formula with scipy.linalg.sqrtm in float64."""
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def test_fid_matches_scipy_sqrtm():
    a, b = _features(400, 16, 0).double(), (_features(300, 16, 1) * 1.3 + 0.2).double()
    an, bn = a.numpy(), b.numpy()
    reference = _scipy_frechet(an.mean(0), np.cov(an, rowvar=False), bn.mean(0), np.cov(bn, rowvar=False))
    ours = feature_fid(a, b)
    assert ours == pytest.approx(reference, rel=1e-9, abs=1e-10)
    assert ours > 0.1
    assert feature_fid(b, a) == pytest.approx(ours, rel=1e-9)  # symmetric


def test_fid_streams_batches_like_one_update():
    real, fake = _features(50, 6, 3).double(), _features(40, 6, 4).double()
    fid = FID(feature_dim=6)
    for chunk in real.split(7):
        fid.update(features=chunk, real=True)
    for chunk in fake.split(9):
        fid.update(features=chunk)
    assert float(fid.compute()) == pytest.approx(feature_fid(real, fake), rel=1e-9)


def test_fid_singular_covariance_is_finite_and_zero_on_itself():
    f = _features(5, 20, 4)  # N < D: rank-deficient covariance
    assert feature_fid(f, f) == pytest.approx(0.0, abs=1e-6)
    assert 0 < feature_fid(f, _features(6, 20, 5)) < float("inf")


def test_fid_needs_two_images_a_side():
    fid = FID(feature_dim=4)
    fid.update(features=torch.randn(1, 4), real=True)
    fid.update(features=torch.randn(3, 4))
    with pytest.raises(GenlabError, match="at least 2 real and 2 fake"):
        fid.compute()


def test_fid_metric_grows_with_shift():
    real, fake = _features(500, 8, 0), _features(500, 8, 1)
    values = []
    for shift in (0.0, 0.5, 1.0):
        fid = FID(feature_dim=8)
        fid.update(features=real, real=True)
        fid.update(features=fake + shift)
        values.append(float(fid.compute()))
    assert values[0] < values[1] < values[2]
    # a constant shift s adds ||s||^2 = 8 s^2 to the mean term, nothing else
    assert values[2] - values[0] == pytest.approx(8.0, rel=0.15)
    same = FID(feature_dim=8)
    same.update(features=real, real=True)
    same.update(features=real)
    assert float(same.compute()) == pytest.approx(0.0, abs=1e-6)


def test_fid_on_images_matches_torchmetrics_with_custom_extractor():
    from torchmetrics.image.fid import FrechetInceptionDistance

    from genlab.metrics.features import FeaturesOnly

    torch.manual_seed(0)
    net = FeatureNet(widths=(4, 4, 8), feature_dim=6).eval()
    gen = torch.Generator().manual_seed(0)
    real = torch.randint(0, 256, (40, 1, 28, 28), generator=gen, dtype=torch.uint8)
    fake = (real.float() * 0.7).to(torch.uint8)
    ours, theirs = FID(net), FrechetInceptionDistance(feature=FeaturesOnly(net))
    for metric in (ours, theirs):
        metric.update(real, real=True)
        metric.update(fake, real=False)
    assert float(ours.compute()) == pytest.approx(float(theirs.compute()), rel=1e-3)


def test_kid_near_zero_for_same_distribution_and_positive_otherwise():
    same, other = KID(subsets=20, subset_size=100, seed=0), KID(subsets=20, subset_size=100, seed=0)
    real = _features(300, 8, 0)
    for kid, fake in ((same, _features(300, 8, 1)), (other, _features(300, 8, 1, shift=1.0))):
        kid.update(features=real, real=True)
        kid.update(features=fake)
    mean_same, std_same = same.compute()
    mean_other, _ = other.compute()
    assert abs(float(mean_same)) < 0.05 and float(std_same) > 0
    assert float(mean_other) > 10 * max(abs(float(mean_same)), 1e-3)


def test_kid_is_seeded_and_whole_set_subsets_give_the_unbiased_mmd():
    from torchmetrics.image.kid import poly_mmd

    x, y = _features(60, 4, 0).double(), _features(60, 4, 1, shift=0.3).double()
    kid = KID(subsets=3, subset_size=1000, seed=0)  # capped at 60: every subset is the whole set
    kid.update(features=x, real=True)
    kid.update(features=y)
    mean, std = kid.compute()
    assert float(mean) == pytest.approx(float(poly_mmd(x, y)), rel=1e-9) and float(std) == pytest.approx(0, abs=1e-12)
    runs = []
    for _ in range(2):
        torch.manual_seed(123)  # the caller's RNG state must not matter
        kid = KID(subsets=5, subset_size=20, seed=7)
        kid.update(features=x, real=True)
        kid.update(features=y)
        runs.append([float(v) for v in kid.compute()])
        torch.manual_seed(456)
    assert runs[0] == runs[1]


def test_inception_score_limits():
    num_classes, per_class = 10, 20
    labels = torch.arange(num_classes).repeat(per_class)
    confident = torch.nn.functional.one_hot(labels, num_classes).double() * 50.0
    score = InceptionScore(splits=1)  # one split: the shuffle before splitting cannot matter
    score.update(logits=confident)
    assert float(score.compute()[0]) == pytest.approx(num_classes, rel=1e-6)
    constant = InceptionScore(splits=2)
    constant.update(logits=torch.randn(1, num_classes).repeat(200, 1))
    assert float(constant.compute()[0]) == pytest.approx(1.0, abs=1e-9)


def test_precision_recall_identical_and_disjoint():
    real = _features(100, 8, 0)
    same = PrecisionRecall(k=3)
    same.update(features=real, real=True)
    same.update(features=real.clone())
    assert [float(v) for v in same.compute()] == [1.0, 1.0]
    far = PrecisionRecall(k=3)
    far.update(features=real, real=True)
    far.update(features=_features(100, 8, 1, shift=100.0))
    assert [float(v) for v in far.compute()] == [0.0, 0.0]


def test_class_balance_uniform_and_collapsed():
    balanced = ClassBalance(num_classes=4)
    balanced.update(logits=torch.nn.functional.one_hot(torch.arange(4).repeat(5), 4).float())
    out = balanced.compute()
    assert out["kl_uniform"] == pytest.approx(0.0, abs=1e-12) and out["max_deviation"] == pytest.approx(0.0)
    collapsed = ClassBalance(num_classes=4)
    collapsed.update(logits=torch.tensor([[0.0, 5.0, 0.0, 0.0]]).repeat(8, 1))
    out = collapsed.compute()
    assert out["kl_uniform"] == pytest.approx(math.log(4)) and out["max_deviation"] == pytest.approx(0.75)
    assert out["histogram"] == [0.0, 1.0, 0.0, 0.0]


def test_memorisation_flags_copies():
    train, test = _features(200, 8, 0), _features(100, 8, 1)
    copies, fresh = Memorisation(), Memorisation()
    for memo, fake in ((copies, train[:100].clone()), (fresh, _features(100, 8, 2))):
        memo.update(features=train, split="train")
        memo.update(features=test, split="test")
        memo.update(features=fake, split="fake")
    assert copies.compute()["median_ratio"] < 1e-3 and copies.compute()["fake_below_test_p1"] == 1.0
    assert 0.7 < fresh.compute()["median_ratio"] < 1.4
    with pytest.raises(GenlabError, match="split"):
        copies.update(features=train, split="validation")


def test_memorisation_zero_distances_are_reported_not_blown_up():
    """Duplicates across splits make nearest distances exactly 0: the ratio is NaN (0/0) or inf (x/0), never a
    1e12-sized artefact of an epsilon, and exact copies are counted."""
    train = _features(50, 8, 0) * 5  # large scale: cdist's matrix-product form leaves ~0.05 on identical rows
    test_dup = train[:30].clone()  # every test image also in train → test median 0

    def run(fake: torch.Tensor) -> dict[str, float]:
        memo = Memorisation()
        for split, f in (("train", train), ("test", test_dup), ("fake", fake)):
            memo.update(features=f, split=split)
        return memo.compute()

    copies = run(train[10:40].clone())
    assert copies["fake_to_train_median"] == 0.0 and copies["test_to_train_median"] == 0.0
    assert math.isnan(copies["median_ratio"])
    assert copies["fake_exact_copies"] == 1.0 and copies["fake_below_test_p1"] == 1.0
    fresh = run(_features(30, 8, 3) * 5)
    assert fresh["median_ratio"] == math.inf and fresh["fake_exact_copies"] == 0.0
    assert json.loads(json.dumps(fresh))["median_ratio"] == math.inf  # Python's JSON round-trips it


def test_distance_ratio():
    assert distance_ratio(1.0, 2.0) == 0.5 and distance_ratio(3.0, 0.0) == math.inf
    assert math.isnan(distance_ratio(0.0, 0.0))


def test_floor_indices_are_random_not_a_prefix():
    idx = floor_indices(1000, 100, seed=0)
    assert len(set(idx.tolist())) == 100 and np.all(np.diff(idx) > 0)
    assert not np.array_equal(idx, np.arange(100)) and not np.array_equal(idx, np.arange(900, 1000))
    assert idx.max() > 500 and idx.min() < 500  # spread over the file, not a block
    np.testing.assert_array_equal(idx, floor_indices(1000, 100, seed=0))
    assert not np.array_equal(idx, floor_indices(1000, 100, seed=1))
    with pytest.raises(GenlabError):
        floor_indices(10, 11)


def _clustered(labels: np.ndarray, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(features, one-hot-ish logits) of 10 well-separated class clusters, as a domain classifier produces."""
    gen = torch.Generator().manual_seed(seed)
    centres = torch.randn(10, 16, generator=torch.Generator().manual_seed(5)) * 6
    lab = torch.as_tensor(labels)
    return centres[lab] + torch.randn(len(lab), 16, generator=gen), torch.nn.functional.one_hot(lab, 10) * 5.0


def test_one_floor_definition_for_conditional_and_unconditional_runs():
    """Issue 15: the floor is n random training images against the same reference set as the n fakes, whatever
    the fakes' labels; evaluate_features' floor is exactly `real_floor` (the one function) and carries n."""
    rng = np.random.default_rng(0)
    train_labels, test_labels = rng.integers(0, 10, 5000), rng.integers(0, 10, 2000)
    fake_labels = np.arange(200) % 10  # what evaluation asks a conditional model for
    train, test, fake = (_clustered(train_labels, 1), _clustered(test_labels, 2), _clustered(fake_labels, 3))
    kw = {"kid_subsets": 5, "kid_subset_size": 100, "is_splits": 2}
    conditional = evaluate_features(fake, test, train, fake_labels=fake_labels, train_labels=train_labels, **kw)
    unconditional = evaluate_features(fake, test, train, **kw)
    direct = real_floor(train, test, 200, seed=0, **kw, class_balance=True)
    for floor in (conditional["floor"], unconditional["floor"]):
        assert floor["sampling"] == "random" and floor["n"] == floor["num_fake"] == 200
        assert floor["fid"] == direct["fid"] and floor["kid_mean"] == direct["kid_mean"]
        assert floor["num_real"] == conditional["num_real"] == 2000  # the same reference set as the fakes
    assert real_floor(train, test, 200, seed=1, **kw)["fid_draws"][0] != direct["fid_draws"][0]  # seeded draws
    assert conditional["fid"] == unconditional["fid"]
    with pytest.raises(GenlabError, match="one label per fake image"):
        evaluate_features(fake, test, train, fake_labels=fake_labels[:10], train_labels=train_labels, **kw)
    with pytest.raises(GenlabError, match="need 1..5000 training images"):
        real_floor(train, test, 6000)


def test_the_floor_fid_is_the_median_of_independent_draws_with_their_quartiles():
    """Issue 15: one draw is too noisy to divide by, so the floor FID is the median over `draws` random draws
    (seeds seed, seed + 1, ...) with their IQR; draw 0 is the single-draw floor, and the other metrics are its."""
    rng = np.random.default_rng(2)
    train_labels, test_labels = rng.integers(0, 10, 3000), rng.integers(0, 10, 1000)
    train, test = _clustered(train_labels, 1), _clustered(test_labels, 2)
    kw = {"kid_subsets": 5, "kid_subset_size": 100, "is_splits": 2}
    floor = real_floor(train, test, 100, seed=3, draws=7, **kw)
    expected = [feature_fid(test[0], train[0][torch.from_numpy(floor_indices(3000, 100, s))]) for s in range(3, 10)]
    assert floor_draw_seeds(3, 7) == list(range(3, 10)) and floor["draws"] == 7 and floor["n"] == 100
    assert floor["fid_draws"] == pytest.approx(expected, rel=1e-9)
    assert len(set(floor["fid_draws"])) == 7  # the draws differ
    assert floor_fids(train[0], test[0], 100, list(range(3, 10))) == pytest.approx(floor["fid_draws"], rel=1e-12)
    assert floor["fid"] == pytest.approx(float(np.median(expected)), rel=1e-9)
    q25, q75 = np.percentile(expected, [25, 75])
    assert floor["fid_q25"] == pytest.approx(q25, rel=1e-9) and floor["fid_q75"] == pytest.approx(q75, rel=1e-9)
    assert floor["fid_q25"] <= floor["fid"] <= floor["fid_q75"] and floor["fid_q25"] < floor["fid_q75"]
    single = real_floor(train, test, 100, seed=3, draws=1, **kw)
    assert single["fid"] == single["fid_q25"] == single["fid_q75"] == floor["fid_draws"][0]
    assert single["kid_mean"] == floor["kid_mean"] and single["precision"] == floor["precision"]  # draw 0's
    assert real_floor(train, test, 100, seed=4, draws=7, **kw)["fid_draws"][:6] == floor["fid_draws"][1:]
    assert real_floor(train, test, 100, **kw)["draws"] == FLOOR_DRAWS >= 10  # the default every caller gets
    text = floor_text(floor)
    assert text == (f"floor {floor['fid']:.3g} (median of 7 draws of n = 100 training images; "
                    f"IQR {floor['fid_q25']:.3g}–{floor['fid_q75']:.3g})")
    assert floor_text({"fid": 1.37, "n": 1000}) == "floor 1.37 (1 draw of n = 1000 training images)"  # old JSON


@pytest.mark.parametrize("draws", [0, -1, 1001, 2.5, True, "10", None])
def test_a_bad_floor_draw_count_is_one_line_naming_it(draws):
    train, test = _clustered(np.arange(300) % 10, 1), _clustered(np.arange(100) % 10, 2)
    for call in (lambda: real_floor(train, test, 50, draws=draws),
                 lambda: evaluate_features(test, test, train, floor_draws=draws)):
        with pytest.raises(GenlabError, match=r"floor draws=.*: expected an integer number of random training "
                                              r"draws in 1\.\.1000") as err:
            call()
        assert "\n" not in str(err.value) and repr(draws) in str(err.value)


def test_label_accuracy_of_a_conditional_generator_sits_beside_the_classifiers_own():
    """A generator that ignores its labels for a third of the samples scores ~2/3 label accuracy; the floor's is
    the classifier's accuracy on real images of the same classes (1 here); unconditional runs report none."""
    rng = np.random.default_rng(1)
    train_labels, test_labels = rng.integers(0, 10, 3000), rng.integers(0, 10, 1000)
    asked = np.arange(300) % 10
    made = asked.copy()
    made[::3] = (made[::3] + 1) % 10  # every third sample is of the wrong class
    train, test, fake = (_clustered(train_labels, 1), _clustered(test_labels, 2), _clustered(made, 3))
    kw = {"kid_subsets": 5, "kid_subset_size": 100, "is_splits": 2}
    res = evaluate_features(fake, test, train, fake_labels=asked, train_labels=train_labels, **kw)
    assert res["label_accuracy"] == pytest.approx(2 / 3, abs=1e-6) and res["floor"]["label_accuracy"] == 1.0
    assert "label_accuracy" not in evaluate_features(fake, test, train, **kw)


def test_evaluate_images_reports_everything_with_counts():
    torch.manual_seed(0)
    net = FeatureNet(widths=(4, 4, 8), feature_dim=8).eval()
    gen = torch.Generator().manual_seed(1)
    train = torch.randint(0, 256, (120, 1, 28, 28), generator=gen, dtype=torch.uint8)
    test = torch.randint(0, 256, (60, 1, 28, 28), generator=gen, dtype=torch.uint8)
    fake = torch.randint(0, 128, (50, 1, 28, 28), generator=gen, dtype=torch.uint8)
    out = evaluate_images(fake, test, train, net, num_samples=40, kid_subsets=5, kid_subset_size=20, is_splits=2)
    for key in ("fid", "kid_mean", "kid_std", "is_mean", "precision", "recall", "class_kl_uniform",
                "class_max_deviation"):
        assert math.isfinite(out[key]), key
    assert out["num_fake"] == 40 and out["num_real"] == 60 and out["kid_subset_size"] == 20
    assert out["floor"]["num_fake"] == 40 and out["floor"]["fid"] < out["fid"]
    assert 0 <= out["floor"]["class_kl_uniform"] and len(out["class_histogram"]) == 10
    assert set(out["memorisation"]) >= {"median_ratio", "fake_below_test_p1"}
    again = evaluate_images(fake, test, train, net, num_samples=40, kid_subsets=5, kid_subset_size=20, is_splits=2)
    assert again["kid_mean"] == out["kid_mean"] and again["floor"]["kid_mean"] == out["floor"]["kid_mean"]
    cached = evaluate_features(net.extract(fake[:40]), net.extract(test), net.extract(train), kid_subsets=5,
                               kid_subset_size=20, is_splits=2)
    assert cached["fid"] == pytest.approx(out["fid"], rel=1e-6) and cached["floor"]["fid"] == out["floor"]["fid"]


def test_evaluate_images_rejects_bad_input():
    net = FeatureNet(widths=(4, 4, 8), feature_dim=8).eval()
    real = torch.zeros(10, 1, 28, 28, dtype=torch.uint8)
    with pytest.raises(GenlabError, match="fake: expected uint8"):
        evaluate_images(torch.zeros(10, 1, 28, 28), real, None, net)
    with pytest.raises(GenlabError, match="channel"):
        evaluate_images(torch.zeros(10, 3, 28, 28, dtype=torch.uint8), real, None, net)
    with pytest.raises(GenlabError, match="num_samples"):
        evaluate_images(real, real, None, net, num_samples=11)
