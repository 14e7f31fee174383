import numpy as np
import pytest
import tensorflow as tf

from keras_simplex.geometry import fix_gauge, large_angle_fraction, project_to_simplex, simplex_angle


def numpy_angle(g):
    """Independent reference: angle between g and the hyperplane sum(x) = const, degrees."""
    normal = np.ones(g.shape[-1]) / np.sqrt(g.shape[-1])
    norm = np.linalg.norm(g, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos_to_normal = (g @ normal) / norm
    return np.where(norm > 0, 90.0 - np.degrees(np.arccos(np.clip(cos_to_normal, -1, 1))), 0.0)


@pytest.fixture(params=[4, 20], ids=["dna", "protein"])
def gradients(request):
    rng = np.random.default_rng(request.param)
    return rng.normal(size=(5, 30, request.param)) + rng.normal(size=(5, 30, 1))


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_projection_is_idempotent_and_zero_sum(gradients, dtype):
    g = tf.constant(gradients, dtype)
    p = project_to_simplex(g)
    assert p.dtype == dtype
    np.testing.assert_allclose(project_to_simplex(p), p, atol=1e-6)
    np.testing.assert_allclose(tf.reduce_sum(p, -1), 0, atol=1e-5)


def test_projection_is_orthogonal_to_the_all_ones_normal(gradients):
    p = project_to_simplex(gradients).numpy()
    removed = gradients - p
    ones = np.ones(gradients.shape[-1])
    np.testing.assert_allclose(p @ ones, 0, atol=1e-10)
    # The removed part is parallel to the normal: every letter gets the same value.
    np.testing.assert_allclose(removed, removed[..., :1] * np.ones_like(removed), atol=1e-10)
    np.testing.assert_allclose(removed[..., 0], gradients.mean(-1), atol=1e-10)


def test_angle_matches_numpy(gradients):
    np.testing.assert_allclose(simplex_angle(gradients).numpy(), numpy_angle(gradients), atol=1e-6)


def test_corrected_gradients_have_zero_angle(gradients):
    np.testing.assert_allclose(simplex_angle(project_to_simplex(gradients)), 0, atol=1e-5)


def test_angle_extremes_and_zero_gradient():
    g = np.array([[1.0, 1, 1, 1], [-2.0, -2, -2, -2], [0.0, 0, 0, 0], [1.0, -1, 0, 0]])
    np.testing.assert_allclose(simplex_angle(g).numpy(), [90, -90, 0, 0], atol=1e-6)
    norm = np.linalg.norm(g, axis=-1)
    # |sin| equals the removed fraction of the norm: ||g_corr|| = ||g|| cos(theta).
    theta = np.radians(simplex_angle(g).numpy())
    np.testing.assert_allclose(np.linalg.norm(project_to_simplex(g), axis=-1), norm * np.cos(theta), atol=1e-6)


def test_angle_of_zero_gradient_has_finite_derivative():
    g = tf.Variable(tf.zeros((2, 4)))
    with tf.GradientTape() as tape:
        a = tf.reduce_sum(simplex_angle(g))
    assert np.isfinite(tape.gradient(a, g).numpy()).all()


def test_geometry_compiles_under_xla(gradients):
    @tf.function(jit_compile=True)
    def f(g):
        p = project_to_simplex(g)
        a = simplex_angle(g)
        return p, a, large_angle_fraction(a), fix_gauge(g, tf.ones(g.shape[-1]))

    p, a, frac, gauge = f(tf.constant(gradients, tf.float32))
    np.testing.assert_allclose(p, project_to_simplex(gradients), atol=1e-5)
    np.testing.assert_allclose(a, numpy_angle(gradients), atol=1e-3)
    assert frac.shape == (gradients.shape[0], 3)
    np.testing.assert_allclose(gauge, p, atol=1e-5)


def test_large_angle_fraction_counts_strictly_above_thresholds():
    angles = np.array([[10.0, -31, 46, 61, -90, 30], [0, 0, 0, 0, 0, 0]])
    frac = large_angle_fraction(angles).numpy()
    np.testing.assert_allclose(frac, [[4 / 6, 3 / 6, 2 / 6], [0, 0, 0]])
    np.testing.assert_allclose(large_angle_fraction(angles, thresholds=[5, 50]).numpy(), [[1, 2 / 6], [0, 0]])


def test_weighted_gauge_keeps_simplex_directions(gradients):
    size = gradients.shape[-1]
    background = np.random.default_rng(1).dirichlet(np.ones(size))
    fixed = fix_gauge(gradients, background).numpy()
    # Background-expected score is zero ...
    np.testing.assert_allclose(fixed @ background, 0, atol=1e-9)
    # ... and every directional derivative within the simplex is unchanged.
    direction = np.random.default_rng(2).normal(size=(size,))
    direction -= direction.mean()
    np.testing.assert_allclose(fixed @ direction, gradients @ direction, atol=1e-9)
    # Uniform weights give the orthogonal projection.
    np.testing.assert_allclose(fix_gauge(gradients, np.ones(size)), project_to_simplex(gradients), atol=1e-9)


@pytest.mark.parametrize("scale", [1e-44, 1e-40, 1e-30, 1e-20, 1e20, 1e30])
def test_angle_does_not_depend_on_the_scale(gradients, scale):
    g = (gradients / np.abs(gradients).max()).astype(np.float32)  # |g| <= 1
    scaled = (g * np.float32(scale)).astype(np.float32)
    # Exact for the values given, down to denormals (numpy in float64 does not underflow here)...
    np.testing.assert_allclose(simplex_angle(scaled).numpy(), numpy_angle(scaled.astype(np.float64)), atol=0.01)
    if scale >= 1e-30:  # ... and the same as at scale 1 while the scaled values keep their digits
        np.testing.assert_allclose(simplex_angle(scaled).numpy(), simplex_angle(g).numpy(), atol=0.01)


def test_angle_at_the_largest_float32_values(gradients):
    g = (gradients / np.abs(gradients).max()).astype(np.float32) * np.finfo(np.float32).max
    np.testing.assert_allclose(simplex_angle(g).numpy(), numpy_angle(g.astype(np.float64)), atol=0.01)


@pytest.mark.parametrize("dtype", [tf.float16, tf.bfloat16])
def test_low_precision_angles_are_computed_in_float32(gradients, dtype):
    g = tf.cast(gradients, dtype)
    exact = numpy_angle(tf.cast(g, tf.float64).numpy())  # the angle of the rounded gradient
    angles = simplex_angle(g)
    assert angles.dtype == dtype
    np.testing.assert_allclose(tf.cast(angles, tf.float64).numpy(), exact, atol=0.5)  # the output's own rounding
    tiny = tf.cast(gradients * 1e-6, dtype)  # squares underflow in float16
    np.testing.assert_allclose(tf.cast(simplex_angle(tiny), tf.float64).numpy(),
                               numpy_angle(tf.cast(tiny, tf.float64).numpy()), atol=0.5)
