"""numba kernels against their NumPy references."""

import numpy as np
import pytest

from crossbar._kernels import fast_ir_fixed_point
from crossbar.irdrop import _fast_ir_reference


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (9, 1), (13, 6), (64, 64)])
@pytest.mark.parametrize("n_iter", [1, 2, 4])
def test_fast_ir_kernel_matches_numpy(shape, n_iter):
    rng = np.random.default_rng(shape[0] * 100 + shape[1])
    g = rng.uniform(1e-6, 40e-6, shape)
    rs = (0.35, 1.3, 2.0, 0.0)
    np.testing.assert_allclose(
        fast_ir_fixed_point(g, *rs, n_iter, -1.0)[0], _fast_ir_reference(g, *rs, n_iter), rtol=1e-12
    )
