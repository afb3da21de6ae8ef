"""Figures of a fit: corner plot, data/model/residual maps, traces. Functions return figures;
:func:`save` writes one atomically.

Figures are :class:`matplotlib.figure.Figure` objects made without pyplot, so that plotting
never switches the user's matplotlib backend, opens a window or leaves a figure in pyplot's
list; ``fig.savefig`` renders them with Agg whatever the backend.
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
    """Data, model and residual V_RMS at the bins (km/s), x along the major axis."""
    fig = figure(figsize=(14, 4.4))
    axes = fig.subplots(1, 3)
    vmin, vmax = np.percentile(vrms, [1, 99])
    for ax, values, title in zip(axes[:2], (vrms, model), ("data $V_{\\rm rms}$", "model $V_{\\rm rms}$")):
        _velfield(ax, x, y, values, vmin, vmax, "km/s")
        ax.set_title(title)
    resid = (vrms - model) / (vrms_err if vrms_err is not None else 1.0)
    _velfield(axes[2], x, y, resid, -3, 3, "(data - model)/error" if vrms_err is not None else "km/s", cmap="RdBu_r")
    axes[2].set_title("residual")
    for ax in axes:
        ax.set_xlabel("x [arcsec] (major axis)")
    axes[0].set_ylabel("y [arcsec]")
    fig.tight_layout()
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


def trace_plot(idata, var_names=("inclination", "beta_z", "ml")):
    """Trace plot of each chain (arviz)."""
    import warnings

    fig = figure(figsize=(12, 2.5 * len(var_names)))
    axes = fig.subplots(len(var_names), 2, squeeze=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # arviz's own deprecation noise
        import arviz as az

        az.plot_trace(idata, var_names=list(var_names), compact=False, combined=True, axes=axes, show=False)
    fig.tight_layout()
    return fig


def save(fig, path, dpi=100):
    """Save a figure atomically (a pyplot figure is also closed)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi)
    if getattr(fig.canvas, "manager", None) is not None:
        import matplotlib.pyplot as plt

        plt.close(fig)
