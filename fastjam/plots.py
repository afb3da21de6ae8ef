"""Figures of a fit: corner plot, data/model/residual maps, traces. Functions return figures;
:func:`save` writes one atomically."""
import os
from pathlib import Path

import numpy as np

LABELS = dict(inclination=r"$i$ [deg]", beta_z=r"$\beta_z$", ml=r"$M/L$", q_intr=r"$q_{\rm intr}$",
              log10_mass=r"$\log_{10} M$")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def corner_plot(idata, truth=None, var_names=("inclination", "beta_z", "ml"), color="k", fig=None):
    """Corner plot (corner package) of the posterior, with the true values when known."""
    import corner

    _pyplot()
    samples = np.column_stack([np.asarray(idata.posterior[v]).ravel() for v in var_names])
    truths = [truth.get(v) for v in var_names] if truth else None
    # unit total weight, so that posteriors with different numbers of samples overlay on one scale
    weights = np.full(len(samples), 1.0 / len(samples))
    return corner.corner(samples, labels=[LABELS[v] for v in var_names], truths=truths, color=color, fig=fig,
                         weights=weights, quantiles=[0.16, 0.5, 0.84], show_titles=True, title_fmt=".3g",
                         plot_datapoints=fig is None)


def maps_plot(x, y, vrms, model, vrms_err=None):
    """Data, model and residual V_RMS at the bins (km/s), x along the major axis; with errors,
    also the histogram of the normalised residuals (data - model)/error against N(0, 1)."""
    from plotbin.plot_velfield import plot_velfield

    plt = _pyplot()
    ncol = 3 if vrms_err is None else 4
    fig, axes = plt.subplots(1, ncol, figsize=(4.7 * ncol, 4.4))
    vmin, vmax = np.percentile(vrms, [1, 99])
    for ax, values, title in zip(axes[:2], (vrms, model), ("data $V_{\\rm rms}$", "model $V_{\\rm rms}$")):
        plt.sca(ax)
        plot_velfield(x, y, values, vmin=vmin, vmax=vmax, colorbar=True, label="km/s")
        ax.set_title(title)
    plt.sca(axes[2])
    resid = (vrms - model) / (vrms_err if vrms_err is not None else 1.0)
    plot_velfield(x, y, resid, vmin=-3, vmax=3, cmap="RdBu_r", colorbar=True,
                  label="(data - model)/error" if vrms_err is not None else "km/s")
    axes[2].set_title("residual")
    for ax in axes[:3]:
        ax.set_xlabel("x [arcsec] (major axis)")
    axes[0].set_ylabel("y [arcsec]")
    if vrms_err is not None:
        residual_histogram(resid, axes[3])
    fig.tight_layout()
    return fig


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


def trace_plot(idata, var_names=("inclination", "beta_z", "ml")):
    """Trace plot of each chain (arviz)."""
    import warnings

    _pyplot()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # arviz's own deprecation noise
        import arviz as az

        axes = az.plot_trace(idata, var_names=list(var_names), compact=False)
    fig = np.ravel(axes)[0].figure
    fig.tight_layout()
    return fig


def save(fig, path, dpi=100):
    """Save a figure atomically and close it."""
    plt = _pyplot()
    path = Path(path)
    tmp = path.with_name(f"{path.stem}.tmp{os.getpid()}{path.suffix}")
    fig.savefig(tmp, dpi=dpi)
    os.replace(tmp, path)
    plt.close(fig)
