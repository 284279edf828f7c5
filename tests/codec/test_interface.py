import pytest
import torch

from codec import (
    Codec,
    CodecMismatchError,
    CodecSpec,
    MelCodec,
    WavCube,
    check_codec,
    load_codec,
    open_codec,
)


def test_both_codecs_satisfy_the_interface(tiny_codec_dir, tiny_vocos):
    for codec in (WavCube.from_pretrained(tiny_codec_dir), MelCodec.from_pretrained(tiny_vocos), MelCodec.griffin_lim()):
        assert isinstance(codec, Codec)
        assert codec.frame_rate * codec.hop_length == codec.sample_rate


@pytest.mark.parametrize("which", ["wavcube", "vocos", "griffin-lim"])
def test_spec_round_trip(which, tiny_codec_dir, tiny_vocos):
    codec = {"wavcube": lambda: WavCube.from_pretrained(tiny_codec_dir), "vocos": lambda: MelCodec.from_pretrained(tiny_vocos),
             "griffin-lim": MelCodec.griffin_lim}[which]()
    spec = codec.spec()
    assert CodecSpec.from_dict(spec.to_dict()) == spec
    again = load_codec(spec)
    assert type(again) is type(codec) and again.spec() == spec
    wav = torch.randn(8000) * 0.1
    torch.testing.assert_close(again.encode(wav, 16000)[0], codec.encode(wav, 16000)[0])


def test_open_codec_tells_the_kind(tiny_codec_dir, tiny_vocos):
    assert isinstance(open_codec(tiny_codec_dir), WavCube)
    assert isinstance(open_codec(tiny_vocos), MelCodec)
    assert isinstance(open_codec("griffin-lim"), MelCodec)


def test_mismatch_names_both(tiny_codec_dir):
    record = CodecSpec("mel", "charactr/vocos-mel-24khz", 100, 93.75)
    with pytest.raises(CodecMismatchError, match=r"wavcube codec, 128-d at 50 Hz.*mel charactr/vocos-mel-24khz, "
                                                 r"100-d at 93.75 Hz"):
        check_codec(record, WavCube.from_pretrained(tiny_codec_dir))
    with pytest.raises(CodecMismatchError, match="64-d"):
        load_codec(CodecSpec("wavcube", str(tiny_codec_dir), 64, 50.0))
    check_codec(record, MelCodec.griffin_lim())  # another decoder of the same latent is accepted
