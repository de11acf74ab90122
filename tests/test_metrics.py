"""Metrics on hand-computed cases."""
import numpy as np
import pytest
import torch

from loihi_hybrid.metrics import RateMeter, box_iou, corner_error_px, dice_per_slice, dice_per_volume


def test_box_iou_hand_cases():
    true = np.array([[0.0, 0.0, 0.5, 0.5], [0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 0.2, 0.2], [0.1, 0.1, 0.3, 0.3]])
    pred = np.array([[0.0, 0.0, 0.5, 0.5], [0.0, 0.0, 0.5, 1.0], [0.5, 0.5, 1.0, 1.0], [0.3, 0.3, 0.1, 0.1]])
    # identical; half the area; disjoint; degenerate (inverted) prediction
    np.testing.assert_allclose(box_iou(pred, true), [1.0, 0.5, 0.0, 0.0])
    # partial overlap: [0,0,2,2] vs [1,1,3,3] -> 1 / (4 + 4 - 1)
    assert box_iou(np.array([[0, 0, 2, 2.0]]), np.array([[1, 1, 3, 3.0]]))[0] == pytest.approx(1 / 7)


def test_corner_error_in_original_pixels():
    pred = np.array([[0.1, 0.2, 0.5, 0.6]])
    true = np.array([[0.0, 0.2, 0.5, 0.8]])
    # (H, W) = (100, 200): x error 0.1 * 200 = 20 px, y error 0.2 * 100 = 20 px -> mean (20 + 0 + 0 + 20) / 4
    assert corner_error_px(pred, true, np.array([[100, 200]]))[0] == pytest.approx(10.0)


def test_dice_pooled_per_volume_and_per_slice():
    true = np.zeros((3, 1, 2, 2))
    prob = np.zeros((3, 1, 2, 2))
    true[0, 0, 0, :] = 1          # volume 0, slice 0: 2 pixels
    prob[0, 0, 0, 0] = 0.9        # 1 of them found
    true[1, 0, :, :] = 1          # volume 0, slice 1: 4 pixels, all found, 0 false positives
    prob[1] = 0.8
    prob[2, 0, 1, 1] = 0.7        # volume 1: empty truth, 1 false positive -> Dice 0
    groups = np.array([0, 0, 1])
    # volume 0 pooled: 2 * 5 / (5 + 6) = 10/11; volume 1: 0
    assert dice_per_volume(prob, true, groups) == pytest.approx((10 / 11 + 0) / 2)
    # slices with hippocampus: slice 0: 2*1/(1+2) = 2/3; slice 1: 1
    assert dice_per_slice(prob, true) == pytest.approx((2 / 3 + 1) / 2)
    # threshold is 0.5 inclusive
    assert dice_per_volume(np.full((1, 1, 1, 1), 0.5), np.ones((1, 1, 1, 1)), np.array([0])) == 1.0


def test_rate_meter_hz_weights_layers_by_neurons():
    m = RateMeter(["a", "b"], dt_s=1e-3)
    m.add([torch.full((2, 10), 0.1), torch.full((2, 30), 0.3)])
    m.add([torch.full((1, 10), 0.4), torch.full((1, 30), 0.0)])
    rates = m.per_layer_hz()
    assert rates["a"] == pytest.approx((0.1 * 2 + 0.4) / 3 * 1000)
    assert rates["b"] == pytest.approx(0.3 * 2 / 3 * 1000)
    assert m.network_hz() == pytest.approx((10 * rates["a"] + 30 * rates["b"]) / 40)
