"""Figures of a fit: corner plot, data/model/residual maps, traces. Functions return figures;
:func:`save` writes one atomically.

Figures are :class:`matplotlib.figure.Figure` objects made without pyplot, so that plotting
never switches the user's matplotlib backend, opens a window or leaves a figure in pyplot's
list; ``fig.savefig`` renders them with Agg whatever the backend. The figures of a fit are laid
out with fixed margins (``tight_layout`` would draw each figure once more to measure it).
"""
import numpy as np

from .atomic import atomic_path

LABELS = dict(inclination=r"$i$ [deg]", beta_z=r"$\beta_z$", ml=r"$M/L$", q_intr=r"$q_{\rm intr}$",
              log10_mass=r"$\log_{10} M$")


def figure(**kwargs):
    """A new :class:`~matplotlib.figure.Figure` outside pyplot (``kwargs`` as for Figure)."""
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def corner_plot(idata, truth=None, var_names=("inclination", "beta_z", "ml"), color="k", fig=None):
    """Corner plot (corner package) of the posterior, with the true values when known."""
    import corner

    samples = np.column_stack([np.asarray(idata.posterior[v]).ravel() for v in var_names])
    truths = [truth.get(v) for v in var_names] if truth else None
    first = fig is None
    if first:
        k = len(var_names)
        fig = figure(figsize=(2.5 * k, 2.5 * k))
        fig.subplots(k, k)
    # unit total weight, so that posteriors with different numbers of samples overlay on one scale
    weights = np.full(len(samples), 1.0 / len(samples))
    return corner.corner(samples, labels=[LABELS[v] for v in var_names], truths=truths, color=color, fig=fig,
                         weights=weights, quantiles=[0.16, 0.5, 0.84], show_titles=True, title_fmt=".3g",
                         plot_datapoints=first)


def maps_plot(x, y, vrms, model, vrms_err=None):
    """Data, model and residual V_RMS at the bins (km/s), x along the major axis; with errors,
    also the histogram of the normalised residuals (data - model)/error against N(0, 1)."""
    ncol = 3 if vrms_err is None else 4
    fig = figure(figsize=(4.7 * ncol, 4.4))
    axes = fig.subplots(1, ncol)
    vmin, vmax = np.percentile(vrms, [1, 99])
    for ax, values, title in zip(axes[:2], (vrms, model), ("data $V_{\\rm rms}$", "model $V_{\\rm rms}$")):
        _velfield(ax, x, y, values, vmin, vmax, "km/s")
        ax.set_title(title)
    resid = (vrms - model) / (vrms_err if vrms_err is not None else 1.0)
    _velfield(axes[2], x, y, resid, -3, 3, "(data - model)/error" if vrms_err is not None else "km/s", cmap="RdBu_r")
    axes[2].set_title("residual")
    for ax in axes[:3]:
        ax.set_xlabel("x [arcsec] (major axis)")
    axes[0].set_ylabel("y [arcsec]")
    if vrms_err is not None:
        residual_histogram(resid, axes[3])
    fig.subplots_adjust(left=0.2 / ncol, right=1 - 0.12 / ncol, bottom=0.12, top=0.9, wspace=0.5)
    return fig


def _velfield(ax, x, y, values, vmin, vmax, label, **kwargs):
    """plotbin's contoured map on ``ax`` with a colour bar beside it (plotbin's own colour bar
    goes through pyplot)."""
    from matplotlib.ticker import MaxNLocator
    from plotbin.plot_velfield import plot_velfield

    cnt = plot_velfield(x, y, values, vmin=vmin, vmax=vmax, ax=ax, **kwargs)
    cax = ax.inset_axes([1.02, 0, 0.05, 1], transform=ax.transAxes)
    ticks = MaxNLocator(7).tick_values(vmin, vmax)
    ax.figure.colorbar(cnt, cax=cax, ticks=ticks[(ticks >= vmin) & (ticks <= vmax)]).set_label(label)


def residual_histogram(resid, ax):
    """Histogram of normalised residuals on ``ax`` with the standard normal density over it."""
    lim = max(4.0, float(np.max(np.abs(resid))))
    ax.hist(resid, bins=np.linspace(-lim, lim, 41), density=True, color="0.6", label=f"{resid.size} bins")
    grid = np.linspace(-lim, lim, 200)
    ax.plot(grid, np.exp(-0.5 * grid**2) / np.sqrt(2 * np.pi), "k-", label="N(0, 1)")
    ax.set_xlabel("(data - model)/error")
    ax.set_ylabel("density")
    ax.set_title(f"normalised residuals: mean {np.mean(resid):.2f}, sd {np.std(resid):.2f}")
    ax.legend(loc="upper right")


def trace_plot(idata, var_names=("inclination", "beta_z", "ml"), max_chains=8):
    """Histogram of all draws (left) and the traces of at most ``max_chains`` chains or walkers,
    evenly picked (right), per parameter."""
    fig = figure(figsize=(12, 2.5 * len(var_names)))
    axes = fig.subplots(len(var_names), 2, squeeze=False)
    for (left, right), name in zip(axes, var_names):
        draws = np.asarray(idata.posterior[name])  # (chains, draws)
        left.hist(draws.ravel(), bins=50, density=True, histtype="step", color="k")
        left.set_xlabel(LABELS[name])
        left.set_ylabel("density")
        shown = np.unique(np.linspace(0, draws.shape[0] - 1, min(max_chains, draws.shape[0])).astype(int))
        right.plot(draws[shown].T, lw=0.6, alpha=0.8)
        right.set_ylabel(LABELS[name])
        right.set_title(f"{shown.size} of {draws.shape[0]} chains", fontsize=9, loc="right")
    axes[-1, 1].set_xlabel("draw (after burn-in)")
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.08, top=0.96, hspace=0.45, wspace=0.2)
    return fig


def save(fig, path, dpi=100):
    """Save a figure atomically (a pyplot figure is also closed)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi)
    if getattr(fig.canvas, "manager", None) is not None:
        import matplotlib.pyplot as plt

        plt.close(fig)


def recovery_plot(table, parameters=("inclination", "beta_z", "ml")):
    """Recovered against true values across a survey (top) and histograms of the pulls (bottom).

    ``table`` holds survey results (:data:`fastjam.survey.COLUMNS`); the fitted rows with true
    values are drawn, medians with 16-84% error bars; pulls as in :mod:`fastjam.recovery`.
    """
    from .recovery import pulls, recovered_rows

    fig = figure(figsize=(4.2 * len(parameters), 8))
    axes = fig.subplots(2, len(parameters), squeeze=False)
    for k, p in enumerate(parameters):
        rows = recovered_rows(table, p)
        truth, med = np.asarray(rows[f"{p}_truth"]), np.asarray(rows[f"{p}_median"])
        err = [med - np.asarray(rows[f"{p}_p16"]), np.asarray(rows[f"{p}_p84"]) - med]
        ax = axes[0, k]
        ax.errorbar(truth, med, yerr=err, fmt="o", ms=3, lw=0.8, alpha=0.7)
        lo, hi = np.nanmin(np.r_[truth, med]), np.nanmax(np.r_[truth, med])
        ax.plot([lo, hi], [lo, hi], "k--", lw=1)
        ax.set_xlabel(f"true {LABELS[p]}")
        ax.set_ylabel(f"recovered {LABELS[p]}")
        z = pulls(table, p)
        ax = axes[1, k]
        ax.hist(np.clip(z, -5, 5), bins=np.linspace(-5, 5, 26), density=True, alpha=0.7)
        grid = np.linspace(-5, 5, 201)
        ax.plot(grid, np.exp(-grid**2 / 2) / np.sqrt(2 * np.pi), "k-", lw=1, label="N(0, 1)")
        ax.set_xlabel(f"pull of {LABELS[p]}")
        ax.set_title(f"mean {np.mean(z):.2f}, spread {np.std(z, ddof=1):.2f} ({z.size} galaxies)", fontsize=10)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
