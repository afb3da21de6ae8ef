"""Training of the general-photometry emulator: the loss, the epoch's order, the options, the maps kept."""
import numpy as np
import pytest


def test_tail_weighted_loss_blends_the_mean_square_and_the_fourth_moment():
    from fastjam.emulator.general_loss import batch_loss

    r = np.array([[0.01, -0.01, 0.0, 0.1]])
    assert batch_loss(r) == pytest.approx(np.mean(r**2), rel=1e-12)
    assert batch_loss(r, 1.0) == pytest.approx(np.sqrt(np.mean(r**4)), rel=1e-12)
    # the one large residual's share of the gradient grows with the tail term

    def slope(k, w):
        step = 1e-6 * np.eye(4)[k]
        return (batch_loss(r + step, w) - batch_loss(r - step, w)) / 2e-6

    assert slope(3, 0.5) / slope(0, 0.5) > slope(3, 0.0) / slope(0, 0.0) * 1.5


def test_bias_weighted_loss_adds_each_map_and_anchors_squared_mean_residual():
    import torch

    from fastjam.emulator.general_loss import batch_loss

    # two maps of two anchor groups of 3 pixels: a constant offset in map 0's first anchor, a pattern
    # of zero mean in map 1's second one
    r = np.array([[0.02, 0.02, 0.02, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.03, -0.03, 0.0]])
    mse = np.mean(r**2)
    assert batch_loss(r, bias_weight=0.0, groups=2) == pytest.approx(mse, rel=1e-12)
    # only the offset counts: its per-group mean 0.02 over 2 maps x 2 groups
    assert batch_loss(r, bias_weight=3.0, groups=2) == pytest.approx(mse + 3.0 * 0.02**2 / 4, rel=1e-12)
    # one group: map 0's mean is 0.01, map 1's 0
    assert batch_loss(r, bias_weight=3.0) == pytest.approx(mse + 3.0 * 0.01**2 / 2, rel=1e-12)
    assert float(batch_loss(torch.as_tensor(r), 0.0, torch, 3.0, 2)) == pytest.approx(
        batch_loss(r, bias_weight=3.0, groups=2), rel=1e-12)


def test_radial_pixel_weights_shift_the_loss_to_the_outer_map():
    import torch

    from fastjam.emulator.general_loss import batch_loss, radial_weights
    from fastjam.physics import grid

    assert radial_weights(0.0) is None
    w = radial_weights(1.0)
    x, y = grid.polar_grid()
    r = np.hypot(x, y).ravel()
    assert w.shape == (grid.NTHETA * grid.NR,) and w.mean() == pytest.approx(1.0, rel=1e-12)
    np.testing.assert_allclose(w, (1 + r**2) / np.mean(1 + r**2), rtol=1e-12)
    assert w[r > 1.5].sum() / w.sum() == pytest.approx(0.38, abs=0.01)  # 12% of the nodes
    res = np.random.default_rng(0).normal(size=(3, 2 * w.size))
    assert batch_loss(res, groups=2, pixel_weight=w) == pytest.approx(np.mean(res**2 * np.tile(w, 2)), rel=1e-12)
    assert batch_loss(res, groups=2, pixel_weight=np.ones(w.size)) == pytest.approx(batch_loss(res), rel=1e-12)
    assert float(batch_loss(torch.as_tensor(res), 0.0, torch, 3.0, 2, torch.as_tensor(w))) == pytest.approx(
        batch_loss(res, 0.0, np, 3.0, 2, w), rel=1e-10)
    with pytest.raises(ValueError, match="radial_weight must be >= 0, got -1"):
        radial_weights(-1.0)


def test_centre_bias_term_adds_the_squared_mean_residual_over_the_centre_alone():
    import torch

    from fastjam.emulator.general_loss import batch_loss, centre_nodes
    from fastjam.physics import grid

    centre = centre_nodes()
    x, y = grid.polar_grid()
    assert centre.shape == (grid.NTHETA * grid.NR,) and centre.mean() == pytest.approx(0.41, abs=0.01)
    assert np.all(np.hypot(x, y).ravel()[centre] < 0.1) and np.all(np.hypot(x, y).ravel()[~centre] >= 0.1)
    # two maps of two anchor groups: +0.02 over map 0's first centre and -0.02 outside it (zero mean
    # over the map), a pattern of zero mean over map 1's second centre
    r = np.zeros((2, 2, centre.size))
    r[0, 0] = np.where(centre, 0.02, -0.02)
    r[1, 1, np.flatnonzero(centre)[:2]] = (0.03, -0.03)
    r = r.reshape(2, -1)
    plain = batch_loss(r, 0.0, np, 3.0, 2)
    # the coherent term over the map misses the offset, the one over the centre sees it: 0.02^2 of 4 groups
    assert plain == pytest.approx(np.mean(r**2) + 3.0 * np.mean(r.reshape(2, 2, -1).mean(-1) ** 2), rel=1e-12)
    assert batch_loss(r, 0.0, np, 3.0, 2, centre_bias_weight=5.0, centre=centre) == pytest.approx(
        plain + 5.0 * 0.02**2 / 4, rel=1e-12)
    assert float(batch_loss(torch.as_tensor(r), 0.0, torch, 3.0, 2, None, 5.0, centre)) == pytest.approx(
        batch_loss(r, 0.0, np, 3.0, 2, None, 5.0, centre), rel=1e-12)
    with pytest.raises(ValueError, match="centre_bias_weight needs a mask"):
        batch_loss(r, centre_bias_weight=1.0)
    with pytest.raises(ValueError, match="centre radius must be > 0"):
        centre_nodes(0.0)


def test_epoch_order_revisits_the_hard_maps_in_proportion_to_their_hardness():
    from fastjam.emulator.general_loss import epoch_order

    rng = np.random.default_rng(1)
    hardness = np.ones(1000)
    assert sorted(epoch_order(hardness, 0.0, rng)) == list(range(1000))
    hardness[:10] = 50.0  # 10 maps with 50 times the others' squared maximum: p = 50/1490 each
    counts = np.zeros(1000)
    for _ in range(200):
        order = epoch_order(hardness, 0.5, rng)
        assert len(order) == 1000
        np.add.at(counts, order, 1)
    # expected draws per epoch of a hard map: 500 * 50/1490 + 0.5 = 17.3; of another: 500/1490 + 0.5 = 0.84
    assert counts[:10].mean() / 200 == pytest.approx(500 * 50 / 1490 + 0.5, rel=0.03)
    assert counts[10:].mean() / 200 == pytest.approx(500 / 1490 + 0.5, rel=0.03)
    for share in (-0.1, 1.5):
        with pytest.raises(ValueError, match="hard_share must be in"):
            epoch_order(hardness, share, rng)


@pytest.mark.parametrize("option, message", [(dict(hard_share=1.5), "hard_share must be in"),
                                             (dict(radial_weight=-1.0), "radial_weight must be >= 0"),
                                             (dict(centre_bias_weight=-1.0), "centre_bias_weight must be >= 0"),
                                             (dict(decoder_nodes=-1), "decoder_nodes must be >= 0")])
def test_training_options_are_checked_when_the_config_is_made(option, message):
    from fastjam.emulator.general_train import GeneralTrainConfig

    with pytest.raises(ValueError, match=message):
        GeneralTrainConfig(**option)


def test_maps_not_positive_over_the_prior_range_are_dropped_with_a_warning(caplog):
    from fastjam.emulator.general_data import positive_maps

    # f^2 = a + b x, x = 1/(1 - beta_z): positive at jampy's beta_z = 0 and -0.5 (x = 1, 2/3) in all maps
    a = np.array([[1.0, 1.0], [1.0, 1.0], [-1.0, 1.0], [3.0, 1.0]])
    b = np.array([[1.0, 1.0], [-0.6, 1.0], [2.0, 1.0], [-2.0, 1.0]])
    inp = dict(a=a, b=b, cos_i=np.zeros(4), beta_hi=np.array([0.5, 0.5, 0.5, 0.5]))
    # map 1: 1 - 0.6 * 2 < 0 at beta_hi = 0.5; map 2: -1 + 2/1.2 > 0 at BETA_LO = -0.2 (kept);
    # map 3: 3 - 2 * 2 < 0 at beta_hi
    with caplog.at_level("WARNING"):
        kept = positive_maps(inp)
    np.testing.assert_array_equal(kept["a"], a[[0, 2]])
    np.testing.assert_array_equal(kept["beta_hi"], [0.5, 0.5])
    assert "2 of 4 training maps dropped" in caplog.text
    assert positive_maps(kept) is kept


def test_fused_adamw_gives_the_plain_update_and_resumes_a_plain_checkpoint_fused():
    """The optimiser is torch's fused AdamW (the same update to float32 rounding); a checkpoint written by
    the plain implementation resumes into it without switching it back."""
    import io

    import torch

    from fastjam.emulator.train import TrainConfig, optimiser, resume_states

    def run(opt, net, steps, seed):
        gen = torch.Generator().manual_seed(seed)
        for _ in range(steps):
            loss = net(torch.randn(8, 5, generator=gen)).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()

    def make():
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.SiLU(), torch.nn.Linear(16, 3))

    config = TrainConfig(lr=1e-2)
    plain_net, fused_net = make(), make()
    plain = torch.optim.AdamW(plain_net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    fused, sched, _, _ = optimiser(fused_net, config)
    assert fused.param_groups[0]["fused"]
    run(plain, plain_net, 5, 1)
    run(fused, fused_net, 5, 1)
    for a, b in zip(plain_net.parameters(), fused_net.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    # a plain run's checkpoint, resumed by the training loop's optimiser: fused, and it continues the same run
    saved = io.BytesIO()  # as the training loop writes and reads it
    torch.save(dict(model=plain_net.state_dict(), optimizer=plain.state_dict(),
                    scheduler=torch.optim.lr_scheduler.ReduceLROnPlateau(plain).state_dict()), saved)
    saved.seek(0)
    checkpoint = torch.load(saved, weights_only=False)
    resumed_net = make()
    resumed, resumed_sched, _, _ = optimiser(resumed_net, config)
    resume_states(checkpoint, resumed_net, resumed, resumed_sched)
    assert resumed.param_groups[0]["fused"] and int(resumed.state_dict()["state"][0]["step"]) == 5
    run(plain, plain_net, 3, 2)
    run(resumed, resumed_net, 3, 2)
    for a, b in zip(plain_net.parameters(), resumed_net.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
