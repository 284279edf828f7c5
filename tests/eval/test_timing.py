import time

import torch

from eval.timing import PartTimer, measure

CPU = torch.device("cpu")


class Work:
    def slow(self, seconds):
        time.sleep(seconds)
        return seconds

    def fast(self):
        return "done"


def test_parts_sum_the_time_inside_each_wrapped_method_over_the_timed_calls_only():
    work, parts = Work(), PartTimer(CPU)
    parts.wrap(work, "slow", "sleeping")
    parts.wrap(work, "fast", "other")
    calls = []

    def fn():
        calls.append(work.slow(0.03))
        work.fast()

    result = measure(fn, CPU, repeats=2, warmup=1, parts=parts)
    assert len(calls) == 3 and work.fast() == "done"
    assert 0.03 <= result["parts_s"]["sleeping"] < 0.1  # per timed call: the warm-up is not counted
    assert result["parts_s"]["other"] < 0.01
    assert result["parts_s"]["sleeping"] <= result["mean_s"] and result["wall_s"] >= 0.03
