import math

import pytest
import torch

from tts.flow import EPSS_GRIDS, base_timesteps, integrate, random_span_mask, solver_steps, sway_timesteps


def test_span_mask_is_one_contiguous_span_of_the_requested_fraction():
    lengths = torch.tensor([100, 37, 5, 1])
    gen = torch.Generator().manual_seed(0)
    for _ in range(50):
        mask = random_span_mask(lengths, 120, (0.7, 1.0), generator=gen)
        assert mask.shape == (4, 120)
        for row, n in zip(mask, lengths.tolist()):
            idx = row.nonzero().squeeze(1)
            assert idx.numel() >= 1 and idx[-1] < n  # inside the valid frames
            assert (idx[-1] - idx[0] + 1) == idx.numel()  # contiguous
            assert idx.numel() >= max(1, math.floor(0.7 * n) - 1) and idx.numel() <= n


def test_span_mask_covers_all_frames_when_fraction_is_one():
    mask = random_span_mask(torch.tensor([10, 7]), 10, (1.0, 1.0))
    assert mask.sum(1).tolist() == [10, 7]


def test_sway_grid():
    uniform = sway_timesteps(8, 0.0)
    torch.testing.assert_close(uniform, torch.linspace(0, 1, 9))
    for s in (-1.0, -0.5, 0.5, 1.5):
        t = sway_timesteps(16, s)
        assert t[0] == 0 and abs(t[-1] - 1) < 1e-6
        assert (t.diff() >= -1e-7).all()  # monotonic over the documented range
    early = sway_timesteps(16, -1.0)
    assert early.diff()[0] < sway_timesteps(16, 0.0).diff()[0] / 4  # steps crowd near t = 0
    torch.testing.assert_close(early, 1 - torch.cos(math.pi / 2 * torch.linspace(0, 1, 17)))
    with pytest.raises(ValueError, match="sway"):
        sway_timesteps(8, -1.5)


def test_solvers():
    x0 = torch.zeros(2, 3, 4)
    t = torch.linspace(0, 1, 5)
    # dx/dt = t: the exact solution at t = 1 is x0 + 1/2. Midpoint is exact for it; Euler is not.
    velocity = lambda x, tt: tt[:, None, None].expand_as(x)  # noqa: E731
    assert torch.allclose(integrate(velocity, x0, t, "midpoint"), torch.full_like(x0, 0.5))
    euler = integrate(velocity, x0, t, "euler")
    assert torch.allclose(euler, torch.full_like(x0, (0 + 0.25 + 0.5 + 0.75) / 4))
    # a constant velocity is integrated exactly by both
    for solver in ("euler", "midpoint"):
        assert torch.allclose(integrate(lambda x, tt: torch.ones_like(x), x0, t, solver), x0 + 1)


def test_solver_steps_spend_the_nfe():
    calls = []

    def velocity(x, t):
        calls.append(t)
        return torch.zeros_like(x)

    for solver, nfe in (("euler", 8), ("midpoint", 8)):
        calls.clear()
        integrate(velocity, torch.zeros(1, 2, 2), sway_timesteps(solver_steps(nfe, solver), -1.0), solver)
        assert len(calls) == nfe
    with pytest.raises(ValueError, match="multiple of 2"):
        solver_steps(7, "midpoint")
    with pytest.raises(ValueError, match="unknown solver"):
        solver_steps(8, "rk4")


def test_epss_grids():
    for steps, grid in EPSS_GRIDS.items():
        t = base_timesteps(steps, "epss")
        assert t.shape == (steps + 1,) and t[0] == 0 and t[-1] == 1 and (t.diff() > 0).all()
        torch.testing.assert_close(t * 32, torch.tensor(grid, dtype=torch.float32))
        assert t.diff()[0] < t.diff()[-1]  # fine steps early, coarse late
        assert not torch.allclose(t, base_timesteps(steps, "uniform"))
    for steps in (1, 8, 32):  # no pruned grid: uniform
        torch.testing.assert_close(base_timesteps(steps, "epss"), torch.linspace(0, 1, steps + 1))
    # sway applies on top of the pruned grid
    t = base_timesteps(7, "epss")
    torch.testing.assert_close(sway_timesteps(7, -1.0, "epss"), t - (torch.cos(math.pi / 2 * t) - 1 + t))
    with pytest.raises(ValueError, match="schedule"):
        base_timesteps(7, "cosine")
