"""What the general emulator's training minimises, and which maps each epoch visits.

The loss of the residuals r of ln f (:func:`batch_loss`): their mean square, optionally blended
with the fourth moment (the largest residuals), plus a coherent term (each map's mean residual,
degenerate with M/L in a fit) and the same over the centre alone (:func:`centre_nodes`), with pixel
weights (:func:`radial_weights`) that move the weight of the polar grid's dense centre to the outer
map. :func:`epoch_order` draws a share of each epoch where the network fits worst.
"""
import numpy as np

CENTRE_RE = 0.1  #: radius [R_e] of the centre of :func:`centre_nodes`


def batch_loss(residual, tail_weight=0.0, xp=np, bias_weight=0.0, groups=1, pixel_weight=None,
               centre_bias_weight=0.0, centre=None):
    r"""Training loss of residuals ``residual`` of ln f, shape (maps, groups * pixels):

    .. math:: (1 - w)\,\overline{\omega r^2} + w \sqrt{\overline{(\omega r^2)^2}} + b\,\overline{\bar r_m^2}
              + b_c\,\overline{\bar r_{m,c}^2},

    w = ``tail_weight``, b = ``bias_weight``, ω = ``pixel_weight`` (pixels,) of each group's
    pixels (default 1; :func:`radial_weights`), :math:`\bar r_m` the mean residual over the pixels
    of each map and group (``groups`` = 2 for the two anchor maps of a network's output),
    b_c = ``centre_bias_weight`` and :math:`\bar r_{m,c}` the same mean over the pixels where the mask
    ``centre`` (pixels,) is true (:func:`centre_nodes`)."""
    r2 = residual**2
    if pixel_weight is not None:
        r2 = (r2.reshape(len(residual), groups, -1) * pixel_weight).reshape(r2.shape)
    mse = xp.mean(r2)
    loss = mse if not tail_weight else (1 - tail_weight) * mse + tail_weight * xp.sqrt(xp.mean(r2**2))
    if bias_weight:
        loss = loss + bias_weight * xp.mean(residual.reshape(len(residual), groups, -1).mean(-1) ** 2)
    if centre_bias_weight:
        if centre is None or not np.any(centre):
            raise ValueError("centre_bias_weight needs a mask of the centre's pixels (centre_nodes)")
        inner = residual.reshape(len(residual), groups, -1)[:, :, np.flatnonzero(centre)]
        loss = loss + centre_bias_weight * xp.mean(inner.mean(-1) ** 2)
    return loss


def centre_nodes(radius=CENTRE_RE):
    """Mask (NTHETA*NR,) of the polar map grid's nodes inside ``radius`` [R_e].

    The log-spaced grid puts 41% of its nodes inside 0.1 R_e, so the per-map bias over the grid
    (the card's ``map_bias_p95``) is largely the centre's; there it grows with the bulge's Sérsic
    index (docs/general_emulator_log.md, "Where the bias lies")."""
    if radius <= 0:
        raise ValueError(f"centre radius must be > 0 [R_e], got {radius}")
    from ..physics import grid

    x, y = grid.polar_grid()
    return np.hypot(x, y).ravel() < radius


def radial_weights(c):
    """Pixel weights ω = 1 + c (r/R_e)^2 over the polar map grid (NTHETA*NR,), normalised to mean 1, or
    None for c = 0.

    The log-spaced grid puts 63% of its nodes inside 0.35 R_e and 12% beyond 1.5 R_e, where most
    per-map maxima lie; a spaxel grid of a fit is dense where this one is sparse. With c = 1 the
    nodes beyond 1.5 R_e carry 38% of the loss and those inside 0.35 R_e 37%."""
    if c < 0:
        raise ValueError(f"radial_weight must be >= 0, got {c}")
    if not c:
        return None
    from ..physics import grid

    x, y = grid.polar_grid()
    w = 1 + c * (x**2 + y**2).ravel()
    return w / w.mean()


def epoch_order(hardness, share, rng):
    """Indices of the maps (training order) of one epoch of ``len(hardness)`` draws.

    With ``share`` = 0 a permutation of the maps. Otherwise a fraction ``share`` of the draws is made
    with replacement in proportion to ``hardness`` (each map's last max residual^2 of ln f), the rest
    is a uniform subset without replacement: the maps fitted worst are seen more often, each in
    proportion to its squared per-map maximum, the statistic of the per-map max target
    (importance sampling of hard examples; Loshchilov & Hutter 2015, arXiv:1511.06343)."""
    n = len(hardness)
    if not 0 <= share <= 1:
        raise ValueError(f"hard_share must be in [0, 1], got {share}")
    if not share:
        return rng.permutation(n)
    n_hard = int(round(share * n))
    hard = rng.choice(n, n_hard, p=hardness / hardness.sum())
    return rng.permutation(np.concatenate([hard, rng.permutation(n)[:n - n_hard]]))
