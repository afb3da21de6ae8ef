"""The separable MGE surface brightness: the same numbers as jampy's, and jampy restored after use."""
import numpy as np
import pytest

from fastjam import jampy_surface
from fastjam.jampy_surface import separable_mge_surf, separable_surface

jam_axi_proj = pytest.importorskip("jampy.axi.jam_axi_proj")

# A flattened bulge + disk MGE: 12 Gaussians from 0.05 to 40 arcsec, q from 0.15 to 0.95.
SIGMA = np.geomspace(0.05, 40.0, 12)
QOBS = np.linspace(0.95, 0.15, 12)
SURF = 1e4 * SIGMA**-1.5


def dense(x, y):
    return np.exp(-0.5 / SIGMA**2 * (x[..., None] ** 2 + (y[..., None] / QOBS) ** 2)) @ SURF


def test_meshgrid_equals_dense_sum():
    x1 = np.linspace(-30.5, 30.5, 122)
    y1 = np.linspace(-12.25, 12.25, 50)
    x, y = np.meshgrid(x1, y1)
    got = separable_mge_surf(x, y, SURF, SIGMA, QOBS, fallback=None)  # a meshgrid: never falls back
    assert got.shape == (50, 122)
    np.testing.assert_allclose(got, dense(x, y), rtol=1e-13, atol=0)


@pytest.mark.parametrize("shape", [(7,), (80, 70)])
def test_other_positions_use_the_fallback(shape):
    rng = np.random.default_rng(5)
    x, y = rng.uniform(-20, 20, shape), rng.uniform(-20, 20, shape)  # not a meshgrid
    calls = []

    def fallback(*args):
        calls.append(1)
        return dense(args[0], args[1])

    got = separable_mge_surf(x, y, SURF, SIGMA, QOBS, fallback)
    assert calls == [1]
    np.testing.assert_array_equal(got, dense(x, y))


def test_jampy_function_restored_after_nesting_and_errors():
    original = jam_axi_proj.mge_surf
    with separable_surface():
        patched = jam_axi_proj.mge_surf
        assert patched is not original
        with separable_surface():
            assert jam_axi_proj.mge_surf is patched
        assert jam_axi_proj.mge_surf is patched
    assert jam_axi_proj.mge_surf is original
    with pytest.raises(RuntimeError, match="inside"):
        with separable_surface():
            raise RuntimeError("inside")
    assert jam_axi_proj.mge_surf is original


def test_jampy_with_separable_surface_equals_jampy(monkeypatch):
    """A bulge + disk seen at 85 deg with a small PSF: jampy's answer is unchanged to 1e-9."""
    import jampy

    rng = np.random.default_rng(8)
    x, y = rng.uniform(-15, 15, 60), rng.uniform(-15, 15, 60)
    beta = np.full(SURF.size, 0.1)

    def vrms():
        return jampy.axi.proj(SURF, SIGMA, QOBS, SURF, SIGMA, QOBS, 85.0, 0.0, 20.0, x, y, align="cyl",
                              moment="zz", beta=beta, sigmapsf=0.3, pixsize=0.4, nrad=20, nang=10,
                              plot=False, quiet=True).model

    reference = vrms()
    calls = []
    real = jampy_surface.separable_mge_surf

    def spy(*args):
        calls.append(jampy_surface._meshgrid_axes(np.asarray(args[0]), np.asarray(args[1])) is not None)
        return real(*args)

    monkeypatch.setattr(jampy_surface, "separable_mge_surf", spy)
    with separable_surface():
        fast = vrms()
    assert any(calls), "the convolution grid never reached the separable path"
    np.testing.assert_allclose(fast, reference, rtol=1e-9)
