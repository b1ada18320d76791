"""Function transforms (grad, vjp, jvp, hvp, jacobian, hessian) against closed forms, and nesting."""
import numpy as np
import pytest

import retrograd as rg

X = np.array([0.4, -0.7, 1.3])
A = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])


def f_scalar(x):
    return (rg.sin(x) * x ** 2).sum()


def df(x):
    return np.cos(x) * x ** 2 + 2 * x * np.sin(x)


def d2f(x):  # diagonal Hessian of f_scalar
    return -np.sin(x) * x ** 2 + 4 * x * np.cos(x) + 2 * np.sin(x)


def test_grad_and_value_and_grad():
    np.testing.assert_allclose(rg.grad(f_scalar)(X).numpy(), df(X), rtol=1e-14)
    value, g = rg.value_and_grad(f_scalar)(X)
    assert value.item() == pytest.approx(np.sum(np.sin(X) * X ** 2))
    np.testing.assert_allclose(g.numpy(), df(X), rtol=1e-14)


def test_grad_with_argnums_and_aux():
    def f(a, b):
        return (a * b).sum(), "aux"
    (ga, gb), aux = rg.grad(f, argnums=(0, 1), has_aux=True)(np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    assert aux == "aux"
    np.testing.assert_array_equal(ga.numpy(), [3.0, 4.0])
    np.testing.assert_array_equal(gb.numpy(), [1.0, 2.0])


def test_grad_of_grad_nests():
    second = rg.grad(lambda x: rg.grad(f_scalar)(x).sum())
    np.testing.assert_allclose(second(X).numpy(), d2f(X), rtol=1e-13)


def test_grad_rejects_non_scalar_output():
    with pytest.raises(ValueError, match="must return a scalar"):
        rg.grad(lambda x: x * 2)(X)


def test_vjp_and_jvp_against_the_jacobian():
    def f(x):
        return rg.tanh(rg.tensor(A) @ x)
    J = (1 - np.tanh(A @ X) ** 2)[:, None] * A
    out, pullback = rg.vjp(f, X)
    u = np.array([0.3, -2.0])
    np.testing.assert_allclose(pullback(u)[0].numpy(), J.T @ u, rtol=1e-14)
    v = np.array([1.0, 0.5, -0.25])
    out2, jv = rg.jvp(f, (X,), (v,))
    np.testing.assert_allclose(jv.numpy(), J @ v, rtol=1e-13)
    np.testing.assert_allclose(out.numpy(), out2.numpy())


def test_jacobian_and_hessian_shapes_and_values():
    def f(x):
        return rg.tanh(rg.tensor(A) @ x)
    J = rg.jacobian(f)(X)
    assert J.shape == (2, 3)
    np.testing.assert_allclose(J.numpy(), (1 - np.tanh(A @ X) ** 2)[:, None] * A, rtol=1e-14)
    H = rg.hessian(f_scalar)(X)
    np.testing.assert_allclose(H.numpy(), np.diag(d2f(X)), rtol=1e-13, atol=1e-15)


def test_hvp_matches_the_hessian_times_vector():
    def f(x):
        return rg.logsumexp(rg.tensor(A) @ x) + (x ** 3).sum()
    H = rg.hessian(f)(X).numpy()
    v = np.array([0.2, -1.0, 0.7])
    np.testing.assert_allclose(rg.hvp(f, X, v).numpy(), H @ v, rtol=1e-12)


def test_hvp_on_several_arguments():
    def f(a, b):
        return (a * a * b).sum()
    a, b = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    va, vb = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    ha, hb = rg.hvp(f, (a, b), (va, vb))
    # d2f/da2 = 2b (diag), d2f/dadb = 2a (diag)
    np.testing.assert_allclose(ha.numpy(), 2 * b * va + 2 * a * vb)
    np.testing.assert_allclose(hb.numpy(), 2 * a * va)


def test_transforms_of_constant_functions_give_zeros():
    np.testing.assert_array_equal(rg.grad(lambda x: rg.tensor(3.0))(X).numpy(), np.zeros(3))
    np.testing.assert_array_equal(rg.hvp(lambda x: (x * 2).sum(), X, X).numpy(), np.zeros(3))
