import copy

import pytest
import torch
from torch import nn

from recipes.ema import EMA, EMASchedule


def f5_decay(step: int) -> float:
    """F5-TTS's EMA decay after `step` optimizer steps: ema_pytorch's defaults, from its documented formula."""
    k = max(step - 100 - 1, 0)
    return 0.0 if k == 0 else min(0.9999, 1 - (1 + k) ** (-2 / 3))


@pytest.mark.parametrize("step", [111, 121, 1_001, 10_001, 100_001, 1_000_001, 5_000_001])
def test_decay_at_chosen_steps_is_f5s(step):
    assert EMASchedule().decay(step) == pytest.approx(f5_decay(step), rel=1e-12)


def test_decay_values_and_averaging_window():
    s = EMASchedule()
    assert s.decay(111) == pytest.approx(1 - 11 ** (-2 / 3))  # the first average
    assert 10 / (1 - s.decay(100_001)) == pytest.approx(21_544, rel=1e-3)  # ~22k steps at 100k
    assert s.decay(2_000_001) == 0.9999  # capped


def test_schedule_copies_then_averages_every_tenth_step():
    s = EMASchedule()
    actions = {step: s.action(step) for step in range(1, 132)}
    assert [k for k, v in actions.items() if v == "copy"] == [1, 11, 21, 31, 41, 51, 61, 71, 81, 91, 101]
    assert [k for k, v in actions.items() if v == "average"] == [111, 121, 131]
    with pytest.raises(ValueError, match="optimizer steps 1, 2"):
        s.action(0)


def ema_pytorch_like(model_states: list[dict], beta=0.9999, after=100, every=10, power=2 / 3) -> dict:
    """The EMA that `ema_pytorch.EMA.update()` keeps when called once after each optimizer step
    (its own call counter, copy on the first call, copy up to `after`, then the warm-up decay)."""
    ema = None
    for calls, state in enumerate(model_states):  # `calls`: updates before this one
        if ema is None:
            ema = {k: v.clone() for k, v in state.items()}
            continue
        if calls % every:
            continue
        if calls <= after:
            ema = {k: v.clone() for k, v in state.items()}
            continue
        epoch = max(calls + 1 - after - 1, 0)
        decay = 0.0 if epoch <= 0 else min(beta, 1 - (1 + epoch) ** -power)
        ema = {k: ema[k].lerp(state[k], 1 - decay) for k in ema}
    return ema


def _trajectory(steps: int) -> list[nn.Module]:
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    out = []
    for _ in range(steps):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        out.append(copy.deepcopy(model))
    return out


def test_ema_follows_ema_pytorch_and_resumes_exactly():
    models = _trajectory(260)
    straight = EMA(models[0], EMASchedule())
    for step, m in enumerate(models, start=1):
        straight.update(m, step)
    expected = ema_pytorch_like([m.state_dict() for m in models])
    for k, v in straight.model.state_dict().items():
        torch.testing.assert_close(v, expected[k], rtol=1e-6, atol=1e-6)

    # Stopped after step 137: a new run restores the EMA weights and continues from step 138.
    first = EMA(models[0], EMASchedule())
    for step, m in enumerate(models[:137], start=1):
        first.update(m, step)
    resumed = EMA(models[137], EMASchedule())
    resumed.model.load_state_dict(first.model.state_dict())
    for step, m in enumerate(models[137:], start=138):
        resumed.update(m, step)
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_bad_schedule_is_refused():
    with pytest.raises(ValueError, match="max_decay"):
        EMASchedule(max_decay=1.0)
    with pytest.raises(ValueError, match="update_every"):
        EMASchedule(update_every=0)
