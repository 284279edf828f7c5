"""codec.streaming: a shortened decode gives a whole decode's tail, a stream gives it within the measured bound.

Bounds (tiny WavCube, its own latents of `speechlike` audio: a 3 s prompt, 6 s of new speech; measured
with this file's setup): the shortened decode matches within float rounding (4e-7 relative L2); a
stream differs by 1.0 % relative L2 and 2.8 % of the peak at most, from the GroupNorm's statistics of
the frames so far (a whole decode takes the whole clip's). Vocos: exact at the codec's reach.
"""
import re
from pathlib import Path

import pytest
import torch

from codec import MelCodec, WavCube, WavCubeConfig
from codec.streaming import IncrementalDecoder, PromptState, decode_tail, decode_tails, prompt_state, push_together

from ..conftest import speechlike

TAIL_BOUND = 1e-5  # relative L2 and max/peak: float rounding
STREAM_REL_L2 = 0.015  # measured 0.0099 (push 1 to 25 frames), 0.0071 (push 100)
STREAM_MAX_OVER_PEAK = 0.04  # measured 0.028
PROMPT = 149  # frames of a 3 s prompt


@pytest.fixture(scope="module")
def wavcube():
    torch.manual_seed(0)
    return WavCube(WavCubeConfig.tiny()).eval()


@pytest.fixture(scope="module")
def latent(wavcube):
    wav = torch.cat([speechlike(3.0, seed=0), speechlike(6.0, seed=1, pauses=((2.0, 2.6),))])
    return wavcube.encode(wav, 16000)[0][0]  # (N, 128)


@pytest.fixture(scope="module")
def vocos(tiny_vocos):
    return MelCodec.from_pretrained(tiny_vocos)


def whole_tail(codec, latent, start):
    with torch.inference_mode():
        return codec.decode(latent[None])[0, start * codec.hop_length:]


def errors(ours, whole):
    assert ours.shape == whole.shape
    diff = (ours - whole).abs()
    return float(diff.norm() / whole.norm()), float(diff.max() / whole.abs().max())


def stream(codec, state, new, push, lookahead=None):
    dec = IncrementalDecoder(codec, state, lookahead=lookahead)
    parts = [dec.push(new[i: i + push], final=i + push >= len(new)) for i in range(0, len(new), push)]
    assert dec.finished and dec.pending == 0
    return torch.cat(parts)


def test_defaults_are_the_reach_of_each_decoder(wavcube, vocos):
    # tiny WavCube: 2 vocoder layers × (40 back, 10 ahead) at 100 Hz, + the ISTFT's overlap: 41 and 11 frames
    assert (wavcube.context_frames, wavcube.lookahead_frames) == (41, 11)
    with torch.device("meta"):  # the full size's reach, capped at what was measured to suffice
        base = WavCube(WavCubeConfig.base())
    assert (base.context_frames, base.lookahead_frames) == (160, 20)
    # tiny Vocos: embedding conv 3 + one block's depthwise conv 3 + the ISTFT's 2 frames each way
    assert (vocos.context_frames, vocos.lookahead_frames) == (8, 8)
    assert (MelCodec.griffin_lim().context_frames, MelCodec.griffin_lim().lookahead_frames) == (64, 64)


def test_wavcube_shortened_decode_is_the_whole_decodes_tail(wavcube, latent):
    whole = whole_tail(wavcube, latent, PROMPT)
    tail = decode_tail(wavcube, latent[:PROMPT], latent[PROMPT:])
    assert max(errors(tail, whole)) < TAIL_BOUND


@pytest.mark.parametrize("push", [1, 7, 25, 100])
def test_wavcube_stream_within_the_measured_bound(wavcube, latent, push):
    whole = whole_tail(wavcube, latent, PROMPT)
    rel_l2, max_over_peak = errors(stream(wavcube, prompt_state(wavcube, latent[:PROMPT]), latent[PROMPT:], push),
                                   whole)
    assert rel_l2 < STREAM_REL_L2 and max_over_peak < STREAM_MAX_OVER_PEAK


def test_wavcube_stream_held_back_to_the_end_is_exact(wavcube, latent):
    """Frames held until the final push are normalised with the whole clip's statistics, as a whole decode does."""
    new = latent[PROMPT:]
    state = prompt_state(wavcube, latent[:PROMPT])
    held = stream(wavcube, state, new, push=50, lookahead=len(new))
    assert max(errors(held, whole_tail(wavcube, latent, PROMPT))) < TAIL_BOUND


def test_a_prompt_state_serves_any_number_of_continuations(wavcube, latent):
    state = prompt_state(wavcube, latent[:PROMPT])
    first = decode_tail(wavcube, state, latent[PROMPT:PROMPT + 60])
    other = torch.flip(latent[PROMPT:PROMPT + 80], [0])  # another continuation of the same prompt
    decode_tail(wavcube, state, other)
    again = decode_tail(wavcube, state, latent[PROMPT:PROMPT + 60])
    torch.testing.assert_close(again, first, rtol=0, atol=0)
    whole = whole_tail(wavcube, torch.cat([latent[:PROMPT], other]), PROMPT)
    assert max(errors(decode_tail(wavcube, state, other), whole)) < TAIL_BOUND


def test_no_prompt_and_a_short_prompt(wavcube, latent):
    clip = latent[:120]
    assert max(errors(decode_tail(wavcube, torch.zeros(0, 128), clip), whole_tail(wavcube, clip, 0))) < TAIL_BOUND
    assert max(errors(decode_tail(wavcube, clip[:5], clip[5:]), whole_tail(wavcube, clip, 5))) < TAIL_BOUND


@pytest.mark.parametrize("push", [1, 10, 333])
def test_vocos_stream_and_tail_are_exact_at_its_reach(vocos, push):
    latent = vocos.encode(speechlike(4.0, 24000, seed=2), 24000)[0][0]  # (N, 100), N = 376
    p = 140
    whole = whole_tail(vocos, latent, p)
    assert max(errors(decode_tail(vocos, latent[:p], latent[p:]), whole)) < TAIL_BOUND
    assert max(errors(stream(vocos, prompt_state(vocos, latent[:p]), latent[p:], push), whole)) < TAIL_BOUND


@pytest.mark.parametrize("which", ["wavcube", "vocos"])
def test_clips_together_give_what_each_gives_alone(which, wavcube, vocos, latent):
    """decode_tails and push_together run clips of different lengths in one pass: the same samples as one by one."""
    codec = wavcube if which == "wavcube" else vocos
    frames = latent if which == "wavcube" else vocos.encode(speechlike(5.0, 24000, seed=3), 24000)[0][0]
    cuts = [(0, 40, 100), (30, 90, 250), (100, 160, 180)]  # (prompt start, prompt end = new start, new end)
    prompts = [frames[a:b] for a, b, _ in cuts]
    news = [frames[b:c] for _, b, c in cuts]
    together = decode_tails(codec, [prompt_state(codec, p) for p in prompts], news)
    for p, n, wav in zip(prompts, news, together):
        torch.testing.assert_close(wav, decode_tail(codec, p, n), atol=1e-5, rtol=1e-4)
    alone = [IncrementalDecoder(codec, p) for p in prompts]
    streams = [IncrementalDecoder(codec, p) for p in prompts]
    for step in range(0, 160, 33):  # 33 frames a push; a clip's last push is final, then it leaves the batch
        live = [i for i, st in enumerate(streams) if not st.finished]
        chunks = [news[i][step: step + 33] for i in live]
        finals = [len(news[i]) <= step + 33 for i in live]
        outs = push_together([streams[i] for i in live], chunks, finals)
        for i, chunk, final, out in zip(live, chunks, finals, outs):
            torch.testing.assert_close(out, alone[i].push(chunk, final=final), atol=1e-5, rtol=1e-4)
    assert all(st.finished for st in streams)


def test_a_push_costs_new_frames_plus_context_and_lookahead(wavcube, vocos, latent):
    """What a stream keeps is bounded by context + look-ahead + one push, however long it runs."""
    for codec, frames in ((wavcube, latent), (vocos, vocos.encode(speechlike(4.0, 24000), 24000)[0][0])):
        dec = IncrementalDecoder(codec, frames[:30])
        for i in range(30, len(frames), 9):
            dec.push(frames[i: i + 9])
            kept = dec._cache.hidden.shape[0] if dec._cache is not None else dec._latent.shape[0]
            assert kept <= dec.context + dec.lookahead + 9 + 1
        assert dec.pending == dec.lookahead


def test_frames_come_out_aligned_and_held_back(wavcube, latent):
    dec = IncrementalDecoder(wavcube, latent[:PROMPT], lookahead=11)
    assert dec.push(latent[PROMPT: PROMPT + 5]).numel() == 0 and dec.pending == 5
    out = dec.push(latent[PROMPT + 5: PROMPT + 30])
    assert out.shape == ((30 - 11) * 320,) and dec.pending == 11
    assert dec.push(torch.zeros(0, 128), final=True).shape == (11 * 320,)


def test_bad_use_is_refused(wavcube, latent):
    dec = IncrementalDecoder(wavcube, latent[:10])
    dec.push(latent[10:20], final=True)
    with pytest.raises(RuntimeError, match="finished"):
        dec.push(latent[20:30])
    with pytest.raises(ValueError, match=r"expected frames of shape \(n, 128\)"):
        IncrementalDecoder(wavcube).push(latent[:5, :100])
    with pytest.raises(ValueError, match=r"expected a prompt of shape \(P, 128\)"):
        prompt_state(wavcube, latent[None, :5])
    with pytest.raises(ValueError, match="context must be >= 0"):
        prompt_state(wavcube, latent[:5], context=-1)
    with pytest.raises(ValueError, match="lookahead must be >= 0"):
        IncrementalDecoder(wavcube, lookahead=-1)
    state = prompt_state(wavcube, latent[:5], context=20)
    assert isinstance(state, PromptState) and state.frames == 5
    with pytest.raises(ValueError, match="keeps 20 frames of context, not 30"):
        IncrementalDecoder(wavcube, state, context=30)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_gpu_under_bf16_the_tail_matches_the_whole_decode(wavcube, latent):
    codec = WavCube(WavCubeConfig.tiny()).eval()
    codec.load_state_dict(wavcube.state_dict())
    codec = codec.cuda()
    whole = whole_tail(codec, latent.cuda(), PROMPT).cpu()
    tail = decode_tail(codec, latent[:PROMPT], latent[PROMPT:]).cpu()
    streamed = stream(codec, prompt_state(codec, latent[:PROMPT]), latent[PROMPT:], 25).cpu()
    assert errors(tail, whole)[0] < 2e-2  # bf16 rounding on two computation orders
    assert errors(streamed, whole)[0] < STREAM_REL_L2 + 2e-2


def test_readme_snippet_runs(wavcube, latent):
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = text[text.index("### Streaming and shortened decode"):]
    snippet = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    prompt, rest = latent[:PROMPT], latent[PROMPT:]
    scope = {"codec": wavcube, "prompt_latent": prompt, "new_latent": rest, "frames": rest[:30],
             "last_frames": rest[30:], "states": [prompt_state(wavcube, prompt)] * 2,
             "new_latents": [rest[:50], rest[:70]], "streams": [IncrementalDecoder(wavcube, prompt) for _ in range(2)],
             "pieces": [rest[:40], rest[:20]], "finals": [False, True]}
    exec(snippet, scope)
    assert scope["wav"].shape == ((len(rest) - (30 - 11)) * 320,)  # the final push: all but the 19 emitted before
    assert [w.shape[0] for w in scope["wavs"]] == [(40 - 11) * 320, 20 * 320]
