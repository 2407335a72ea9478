"""The training losses against hand computations (and torch's own BCE as a reference)."""

import math

import pytest

torch = pytest.importorskip("torch")

from imgrestore.errors import UserError  # noqa: E402
from imgrestore.train import losses as L  # noqa: E402


def t(rows):
    return torch.tensor(rows, dtype=torch.float32)


def test_l1_l2_by_hand():
    pred = t([[[[0.0, 1.0], [2.0, 3.0]]]])
    zero = torch.zeros_like(pred)
    assert L.l1(pred, zero).item() == pytest.approx((0 + 1 + 2 + 3) / 4)
    assert L.l2(pred, zero).item() == pytest.approx((0 + 1 + 4 + 9) / 4)
    batch = torch.cat([pred, 2 * pred])  # DnCNN eq. (1): 1/(2N) sum_i ||.||^2 with N = 2
    assert L.l2_sum(batch, torch.zeros_like(batch)).item() == pytest.approx((14 + 56) / (2 * 2))


def test_two_scale_l2_eq8_by_hand():
    target = torch.ones(1, 1, 4, 4)
    target[0, 0, :2, :2] = 3.0                 # area mean of the 4x4 block = (4*3 + 12*1)/16 = 1.5
    full = torch.zeros(1, 1, 4, 4)             # l2 = (4*9 + 12*1)/16 = 3
    low = torch.full((1, 1, 1, 1), 2.5)        # l2 vs 1.5 = 1
    assert L.two_scale_l2(full, low, target).item() == pytest.approx(3.0 + 1.0)
    assert L.two_scale_l2(full, low, target, w_full=0.5, w_low=2.0).item() == pytest.approx(1.5 + 2.0)


def test_asymmetric_penalises_underestimation_more():
    est, sigma = t([0.1, 0.3]), t([0.2, 0.2])
    # d = [-0.1, +0.1]; weights |0.25 - 1| = 0.75 (under), |0.25 - 0| = 0.25 (over)
    assert L.asymmetric(est, sigma).item() == pytest.approx((0.75 * 0.01 + 0.25 * 0.01) / 2)
    assert L.asymmetric(t([0.1]), t([0.2])).item() > L.asymmetric(t([0.3]), t([0.2])).item()


def test_multiscale_asymmetric_weights_and_quarter_target():
    sigma = torch.full((1, 1, 4, 4), 0.2)
    fine = torch.full((1, 1, 4, 4), 0.3)     # over by 0.1 everywhere: 0.25 * 0.01
    coarse = torch.full((1, 1, 1, 1), 0.0)   # under by 0.2: 0.75 * 0.04
    want = 0.2 * (0.25 * 0.01) + 0.8 * (0.75 * 0.04)
    assert L.multiscale_asymmetric(fine, coarse, sigma).item() == pytest.approx(want)


def test_adversarial_pair_matches_definitions_and_torch_bce():
    fake, real = t([[0.0], [2.0], [-3.0]]), t([[1.5], [-0.5], [4.0]])
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    want_g = sum(-math.log(sig(v)) for v in (0.0, 2.0, -3.0)) / 3
    assert L.generator_adversarial(fake).item() == pytest.approx(want_g, rel=1e-6)
    want_d = (sum(-math.log(sig(v)) for v in (1.5, -0.5, 4.0)) / 3
              + sum(-math.log(1 - sig(v)) for v in (0.0, 2.0, -3.0)) / 3)
    assert L.discriminator_bce(real, fake).item() == pytest.approx(want_d, rel=1e-6)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    ref = bce(real, torch.ones_like(real)) + bce(fake, torch.zeros_like(fake))
    assert L.discriminator_bce(real, fake).item() == pytest.approx(ref.item(), rel=1e-6)
    # no overflow for confident logits
    assert math.isfinite(L.generator_adversarial(t([[-200.0]])).item())


def test_dmnet_criterion_uses_both_scales():
    from imgrestore.nets.dmnet import DMNet

    torch.manual_seed(0)
    net = DMNet(features=4, blocks=1, fine_layers=3)
    x, y = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    crit = L.get_criterion("l2-two-scale")
    out = L.TrainForward(net, crit.outputs)(x)
    total, parts = crit(out, y)
    full, low = net.forward_scales(x)
    assert total.item() == pytest.approx(L.l2(full, y).item() + L.l2(low, L.quarter(y)).item(), rel=1e-6)
    assert set(parts) == {"l2_full", "l2_quarter"}


def test_aindnet_criterion_is_l1_plus_weighted_estimator_loss():
    from imgrestore.nets.aindnet import AINDNet

    torch.manual_seed(0)
    net = AINDNet(features=(4, 4, 4), blocks=(1, 1, 1))
    x, y = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)
    sigma = torch.full((1, 3, 8, 8), 0.1)
    crit = L.get_criterion("l1+estimator")
    total, parts = crit(L.TrainForward(net, crit.outputs)(x), y, {"sigma": sigma})
    fine = net.estimator.fine(x)
    coarse = net.estimator.coarse(torch.nn.functional.avg_pool2d(x, 4))
    est = 0.2 * L.asymmetric(fine, sigma, 0.25) + 0.8 * L.asymmetric(coarse, L.quarter(sigma), 0.25)
    want = L.l1(net(x), y) + 0.05 * est
    assert total.item() == pytest.approx(want.item(), rel=1e-6)


def test_criterion_checks_are_one_line_errors():
    from imgrestore.nets.dncnn import DnCNN

    net = DnCNN(depth=3, features=4)
    with pytest.raises(UserError, match="two output scales"):
        L.get_criterion("l2-two-scale").check(net, "dncnn-s", set())
    with pytest.raises(UserError, match="noise estimator"):
        L.get_criterion("l1+estimator").check(net, "dncnn-s", set())
    with pytest.raises(UserError, match="unknown loss"):
        L.get_criterion("l3")
