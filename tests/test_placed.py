"""The placed protocol: exact box transform on hand cases, determinism, backgrounds from the same split."""

import json
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


# --- the protocol in the LocNet task, the config and deploy -------------------------------------------------
from loihi_hybrid.errors import InputError  # noqa: E402
from loihi_hybrid.metrics import box_iou, giou_loss, mean_box_baseline  # noqa: E402
from loihi_hybrid.tasks import load_config, make_task  # noqa: E402

SMALL = {"data": {"input_size": [16, 24], "synthetic_samples": 40}}


def _task(**data):
    return make_task(load_config("locnet", synthetic=True, overrides={"data": {**SMALL["data"], **data}}))


def test_paper_protocol_without_placed_training_is_unchanged():
    data = _task().load_data(None)
    assert data.extra_tests == {} and not data.test.names[0].startswith("placed:")


def test_placed_protocol_places_val_and_test_and_keeps_the_paper_test_beside():
    task = _task(protocol="placed")
    data, paper = task.load_data(None), _task().load_data(None)
    assert all(n.startswith("placed:") for n in data.test.names + data.val.names)
    assert np.array_equal(data.extra_tests["paper"].x, paper.test.x)
    assert np.array_equal(data.train.x, paper.train.x)               # training photos as they are
    expected = placed_split(paper.test, task.cfg.seed + task.PLACED_SEED["test"])
    assert np.array_equal(data.test.x, expected.x) and np.array_equal(data.test.y, expected.y)


def test_placed_training_adds_the_placed_test_and_baselines_per_protocol():
    task = _task(placed_fraction=0.5)
    data = task.load_data(None)
    assert set(data.extra_tests) == {"placed"}
    metric, extra = task.baseline(data)
    train_placed = placed_split(data.train, task.cfg.seed + task.PLACED_SEED["train"])
    want = box_iou(mean_box_baseline(train_placed.y, len(data.extra_tests["placed"])), data.extra_tests["placed"].y)
    assert extra["protocols"]["placed"] == pytest.approx(float(want.mean()))
    assert metric == pytest.approx(float(box_iou(mean_box_baseline(data.train.y, len(data.test)), data.test.y).mean()))


def test_iou_shares_on_a_hand_case():
    task = _task()
    true = np.array([[0, 0, 1, 1]] * 4, np.float32)
    pred = np.array([[0, 0, 1, 1], [0, 0, 0.8, 1], [0, 0, 0.6, 1], [0, 0, 0.4, 1]], np.float32)  # IoU 1, .8, .6, .4
    split = ArraySplit(x=np.zeros((4, 3, 8, 8), np.float32), y=true, names=list("abcd"), groups=np.arange(4))
    metric, extra = task.score(pred, split)
    assert metric == pytest.approx(0.7)
    assert (extra["iou_ge_0.5"], extra["iou_ge_0.75"], extra["iou_ge_0.9"]) == (0.75, 0.5, 0.25)


def test_placed_fraction_one_places_every_training_photo():
    task = _task(placed_fraction=1.0, augment=False)
    data = task.load_data(None)
    task.fit_targets(task.build(), data)
    x, y = task.augment(data.train.x[:8], data.train.y[:8], np.random.default_rng(0))
    assert not np.array_equal(x, data.train.x[:8])
    assert np.all(y[:, 2] - y[:, 0] <= 0.8 * (data.train.y[:8, 2] - data.train.y[:8, 0]) + 1e-6)


@pytest.mark.parametrize("data, needle", [({"protocol": "anywhere"}, "data.protocol must be 'paper' or 'placed'"),
                                          ({"placed_fraction": 1.5}, "data.placed_fraction must be a number in")])
def test_protocol_config_errors(data, needle):
    with pytest.raises(InputError, match=needle):
        load_config("locnet", synthetic=True, overrides={"data": data})


def test_networks_without_the_protocol_refuse_it():
    from loihi_hybrid.workflows.deploy import with_protocol

    cae = make_task(load_config("cae", synthetic=True))
    assert with_protocol(cae, None) is cae and with_protocol(cae, "paper") is cae
    with pytest.raises(InputError, match="the cae network has the protocols paper"):
        with_protocol(cae, "placed")
    assert with_protocol(_task(), "placed").cfg.data.protocol == "placed"


# --- paths that would give a plausible but wrong answer fail loudly ---------------------------------------
TINY_RUN = {"steps": 6, "readout_warmup": 3, "channels": [4, 4, 4], "hidden": [8, 8, 8],
            "data": {"input_size": [12, 16], "synthetic_samples": 30, "placed_fraction": 0.5},
            "train": {"epochs_ann": 1, "epochs_hybrid": 1, "batch_size": 16}}


@pytest.fixture(scope="module")
def placed_export(tmp_path_factory):
    from loihi_hybrid.workflows.train import run_pipeline

    folder = tmp_path_factory.mktemp("placed")
    cfg = load_config("locnet", synthetic=True, overrides=TINY_RUN)
    run_pipeline(cfg, make_task(cfg).load_data(None), folder, log=lambda _: None)
    return folder / "locnet_hybrid.net"


@pytest.mark.slow
def test_array_inputs_outside_0_1_or_not_finite_are_refused(placed_export):
    from loihi_hybrid.workflows.deploy import deploy_arrays

    x = np.random.default_rng(0).random((2, 3, 12, 16)).astype(np.float32)
    assert np.isfinite(deploy_arrays(placed_export, x)["predictions"]).all()
    with pytest.raises(InputError, match=r"expects inputs in \[0, 1\].*\[0, 2\d\d"):
        deploy_arrays(placed_export, np.rint(x * 255))          # 8-bit pixel values would clip to white
    bad = x.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(InputError, match="non-finite"):
        deploy_arrays(placed_export, bad)
    with pytest.raises(InputError, match="3 labels for 2 inputs"):
        deploy_arrays(placed_export, x, labels=np.zeros((3, 4)))


@pytest.mark.slow
def test_protocol_and_data_must_agree(placed_export):
    from loihi_hybrid.workflows.deploy import deploy

    paper = _task(**TINY_RUN["data"]).load_data(None)
    s = deploy(placed_export, paper, backend="emu")
    assert s["extra"]["protocol"] == "paper" and 0 <= s["metric"] <= 1
    with pytest.raises(InputError, match="loaded under another protocol than the placed protocol"):
        deploy(placed_export, paper, backend="emu", protocol="placed")
    placed = _task(**{**TINY_RUN["data"], "protocol": "placed"}).load_data(None)
    assert deploy(placed_export, placed, backend="emu", protocol="placed")["extra"]["protocol"] == "placed"
    with pytest.raises(InputError, match="mixes placed and original photos"):
        deploy(placed_export, placed, backend="emu", split="all")


@pytest.mark.slow
def test_cli_refuses_the_placed_protocol_for_split_all(placed_export, capsys):
    from loihi_hybrid.cli.deploy import main

    assert main(["--backend", "emu", "--model", str(placed_export), "--protocol", "placed", "--split", "all"]) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and "--protocol placed needs --split test" in err[0]
    assert main(["--backend", "emu", "--model", str(placed_export), "--protocol", "placed"]) == 0


@pytest.mark.parametrize("kind, expected", [
    # standardised errors 0.05 and 0.5 on one box (the other two corners exact), mean over the 4 corners
    ("mse", (0.05 ** 2 + 0.5 ** 2) / 4),
    # Huber, beta 0.1: 0.5 * e^2 / beta below beta, |e| - beta / 2 above
    ("smooth_l1", (0.5 * 0.05 ** 2 / 0.1 + (0.5 - 0.05)) / 4),
])
def test_box_losses_on_a_hand_case(kind, expected):
    import torch
    task = make_task(load_config("locnet", synthetic=True, overrides={"train": {"box_loss": kind}}))
    model = task.build()
    model.target_mean.copy_(torch.tensor([0.1, 0.2, 0.7, 0.8]))
    model.target_std.copy_(torch.tensor([0.1, 0.1, 0.2, 0.2]))
    y = torch.tensor([[0.1, 0.2, 0.7, 0.8]])            # standardised: all zero
    out = torch.tensor([[0.05, 0.0, -0.5, 0.0]])
    assert float(task.loss(model, out, y)) == pytest.approx(expected)


def test_giou_box_loss_on_hand_cases():
    """``1 - GIoU`` of the decoded boxes: 0 on the exact box; half-overlapping squares (IoU 1/7, hull 0.5625,
    union 0.4375) and disjoint ones (union 0.08, hull 0.64) by hand."""
    import torch
    task = make_task(load_config("locnet", synthetic=True, overrides={"train": {"box_loss": "giou"}}))
    model = task.build()
    model.target_mean.copy_(torch.tensor([0.25, 0.25, 0.75, 0.75]))
    model.target_std.copy_(torch.tensor([0.5, 0.5, 0.5, 0.5]))
    out = torch.zeros(1, 4, requires_grad=True)                 # decodes to the mean box
    assert float(task.loss(model, out, torch.tensor([[0.25, 0.25, 0.75, 0.75]]))) == pytest.approx(0.0, abs=1e-6)
    loss = task.loss(model, out, torch.tensor([[0.0, 0.0, 0.5, 0.5]]))
    assert float(loss) == pytest.approx(1 - (1 / 7 - 0.125 / 0.5625), rel=1e-5)
    loss.backward()
    assert torch.all(out.grad[0, :2] > 0) and torch.all(out.grad[0, 2:] > 0)  # both corners move toward the box
    far = giou_loss(torch.tensor([[0.0, 0.0, 0.2, 0.2]]), torch.tensor([[0.6, 0.6, 0.8, 0.8]]))
    assert float(far) == pytest.approx(1 + 0.56 / 0.64, rel=1e-5)
    # the metric shares the arithmetic: IoU of the half-overlapping squares
    assert box_iou(np.array([[0.0, 0.0, 0.5, 0.5]]), np.array([[0.25, 0.25, 0.75, 0.75]]))[0] == pytest.approx(1 / 7)


def test_unknown_box_loss_is_refused():
    with pytest.raises(InputError, match="train.box_loss must be 'mse', 'smooth_l1' or 'giou'"):
        load_config("locnet", synthetic=True, overrides={"train": {"box_loss": "iou"}})


@pytest.mark.parametrize("fraction, trained", [(0.0, ["paper"]), (0.5, ["paper", "placed"]), (1.0, ["placed"])])
def test_export_metadata_names_the_training_protocols(fraction, trained):
    task = _task(placed_fraction=fraction, protocol="placed")
    p = task.preprocessing("synthetic")["protocols"]
    assert p["trained_on"] == trained and p["validated_on"] == "placed" and p["placed_fraction"] == fraction


def test_measured_warmup_keeps_the_placed_training_backgrounds(tmp_path):
    """``readout_warmup_auto`` changes the config after conversion; placed training photos must still find
    their backgrounds in the hybrid stage (a rebuilt task had lost them: AttributeError)."""
    from loihi_hybrid.workflows.train import run_pipeline

    cfg = load_config("locnet", synthetic=True, overrides={**TINY_RUN, "readout_warmup_auto": True})
    summary = run_pipeline(cfg, make_task(cfg).load_data(None), tmp_path, export=(), log=lambda _: None)
    converted = summary["converted"]["extra"]
    assert summary["hybrid"]["epochs"] == 1
    assert json.loads((tmp_path / "config.json").read_text())["readout_warmup"] == converted["readout_warmup"]
