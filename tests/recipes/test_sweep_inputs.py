"""Issue 19, the recipes' part: a manifest row whose file is not audio, a repeated utterance id, and the mode of
the shards and stats we write. Each test failed before its fix."""
import os
from pathlib import Path

import pytest
import torch

from recipes.extract_latents import extract
from recipes.manifest import ManifestError, read_manifest
from recipes.shards import LatentDataset, save_stats, write_shard
from tts.latent_norm import LatentNorm


def manifest_with(clips_manifest: Path, tmp_path: Path, extra: list[str], keep: int = 3) -> Path:
    lines = clips_manifest.read_text().splitlines()
    path = tmp_path / "manifest.tsv"
    path.write_text("\n".join(lines[: 1 + keep] + extra) + "\n")
    return path


def test_a_row_that_is_not_audio_is_a_bad_line(clips_manifest, tiny_codec_dir, tmp_path, capsys):
    notes = tmp_path / "notes.wav"
    notes.write_text("these are my notes, not a recording\n" * 20)
    good = clips_manifest.read_text().splitlines()
    path = manifest_with(clips_manifest, tmp_path, [f"notes\t{notes}\t2.5000\tspk\tsome words"])
    with pytest.raises(ManifestError) as info:
        read_manifest(path)
    assert f"line 5: cannot read audio file {notes}" in str(info.value)
    out = tmp_path / "latents"
    extract(path, str(tiny_codec_dir), out, shard_size=10, workers=0, cpu=True, skip_bad_lines=True)
    assert "skipping" in capsys.readouterr().err
    assert LatentDataset(out).ids == [line.split("\t")[0] for line in good[1:4]]


def test_a_repeated_id_is_refused_naming_both_lines(clips_manifest, tmp_path, capsys):
    good = clips_manifest.read_text().splitlines()
    path = manifest_with(clips_manifest, tmp_path, [good[2]])  # line 3 again, as line 5
    uid = good[2].split("\t")[0]
    with pytest.raises(ManifestError, match=f"line 5: duplicate id '{uid}': line 3 has it too"):
        read_manifest(path)
    assert [u.id for u in read_manifest(path, skip_bad_lines=True)] == [line.split("\t")[0] for line in good[1:4]]


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_shards_and_stats_get_the_umasks_mode(tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        write_shard(tmp_path / "shard-00000.safetensors", ["a"], [torch.zeros(3, 4)], ["text"], ["spk"])
        norm = LatentNorm(4)
        save_stats(tmp_path, norm)
    finally:
        os.umask(old)
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in tmp_path.iterdir()}
    assert modes == {name: oct(mode) for name in modes} and len(modes) == 2


def test_a_scan_measures_a_flac_without_its_length(tmp_path):
    from recipes.manifest import scan
    from tests.codec.test_sweep_inputs import streaming_flac
    from tests.conftest import speechlike

    (tmp_path / "spk").mkdir()
    streaming_flac(tmp_path / "spk" / "utt.flac", speechlike(2.0).numpy(), 16000)
    (tmp_path / "spk" / "utt.txt").write_text("some words")
    [utt], _ = scan([tmp_path])
    assert utt.duration == pytest.approx(2.0)
