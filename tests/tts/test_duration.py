"""Duration rules (tts/duration.py): each rule's arithmetic, the edge cases, the registry and the committed fit."""
import pytest

from tts.duration import (DEFAULT_RULE, LEGACY_RULE, RULES, UNITS, ByteRule, FittedRule, LetterRule, PhoneRule,
                          get_rule, read_weights, unit_counts)
from tts.text import PhoneTokenizer

RATE = 50.0  # frames per second
# Hand-set weights (letters, boundaries, commas, sentence ends, utterance): easy arithmetic, no clamp, no floor.
HAND = FittedRule((1.0, 2.0, 5.0, 10.0, 10.0), rate_range=(1e-3, 10.0), min_word_seconds=0.0)


def test_bytes_is_the_plain_utf8_ratio_without_f5_quirks():
    rule = ByteRule()
    assert rule.frames("abcd", 100, "ab", 1.0, RATE) == 50
    assert rule.frames("abcd", 100, "ab", 2.0, RATE) == 25  # speed 2: half the frames
    assert rule.frames("abcd", 100, "é", 1.0, RATE) == 50  # é is two bytes
    # F5-TTS would add ". " to the prompt transcript and speak texts under 10 bytes at speed 0.3: not here.
    assert rule.frames("Hello.", 60, "Hi.", 1.0, RATE) == 30
    assert rule.frames("abc", 100, "abcd", 1.0, RATE) == 133  # rounded, not truncated


def test_phones_keep_the_old_plan_arithmetic():
    """Frames = round(phones(text) × (prompt frames / phones(prompt) / speed)), as Synthesizer.plan gave them,
    counted by the phone tokenizer on the normalised text."""
    tok = PhoneTokenizer()
    ref, text = "she sells sea shells by the sea shore.", "hello there, world."
    ref_units = tok.count_units(tok.tokenize(ref))
    units = tok.count_units(tok.tokenize(text))
    frames_per_unit = 173 / ref_units / 1.3
    assert PhoneRule().frames(ref, 173, text, 1.3, RATE) == max(1, round(units * frames_per_unit))
    # Raw text is normalised first: as written or normalised, the same frames.
    assert PhoneRule().frames("She sells sea shells by the sea shore.", 173, "Hello there, World!", 1.3, RATE) == \
        PhoneRule().frames(ref, 173, "hello there, world!", 1.3, RATE)


def test_letters_count_the_normalised_letters():
    assert LetterRule().units("2 cats!") == len("twocats")
    assert LetterRule().frames("abcd efgh", 80, "abcd", 1.0, RATE) == 40


def test_unit_counts_by_hand():
    # "well, yes. i think so.": 15 letters, 5 words (4 boundaries), one comma, one sentence end inside; the
    # final full stop is where the speech ends, not a pause.
    assert unit_counts("Well, yes. I think so.") == (15, 4, 1, 1, 1)
    assert unit_counts("well, yes. i think so.") == (15, 4, 1, 1, 1)  # normalised text counts the same
    assert unit_counts("wait; what") == (8, 1, 1, 0, 1)  # a semicolon is a comma once normalised
    assert unit_counts("Yes") == (3, 0, 0, 0, 1)
    assert len(UNITS) == len(unit_counts("a"))


def test_fitted_rule_arithmetic():
    # prompt "ab cd": 4 letters + 1 boundary × 2 + utterance 10 = 16 units in 160 frames (3.2 s): 0.2 s a unit.
    assert HAND.units("ab cd") == 16
    assert HAND.frames("ab cd", 160, "abc", 1.0, RATE) == 130  # 13 units × 0.2 s = 2.6 s
    assert HAND.frames("ab cd", 160, "abc", 2.0, RATE) == 65
    assert HAND.frames("ab cd", 160, "ab, cd. ef", 1.0, RATE) == round((6 + 2 * 2 + 5 + 10 + 10) * 0.2 * RATE)


def test_a_short_text_gets_onset_and_release_and_at_least_the_word_floor():
    rule = FittedRule((1.0, 2.0, 5.0, 10.0, 0.0), rate_range=(1e-3, 10.0), min_word_seconds=0.3)
    ref = "this is the reference sentence"
    seconds_per_unit = 2.0 / rule.units(ref)
    assert rule.frames(ref, 100, "a", 1.0, RATE) == round(0.3 * RATE)  # 1 letter's time is under the floor
    assert rule.frames(ref, 100, "a", 2.0, RATE) == round(0.3 / 2 * RATE)  # the floor follows the speed too
    assert rule.frames(ref, 100, "extraordinarily", 1.0, RATE) == round(15 * seconds_per_unit * RATE)  # above it
    # The default fit's utterance unit: one word is not spoken in the time of its letters alone.
    fitted = get_rule("fitted")
    assert fitted.frames(ref, 100, "Yes.", 1.0, RATE) > ByteRule().frames(ref, 100, "Yes.", 1.0, RATE)


def test_numbers_only_cost_what_is_said():
    ref = "the reference says something ordinary"
    assert HAND.frames(ref, 200, "2024", 1.0, RATE) == HAND.frames(ref, 200, "twenty twenty four", 1.0, RATE)  # a year
    assert HAND.frames(ref, 200, "42.", 1.0, RATE) == HAND.frames(ref, 200, "forty two.", 1.0, RATE)


def test_a_long_text_scales_and_an_odd_prompt_is_held_to_the_rate_range():
    rule = FittedRule((1.0, 2.0, 5.0, 10.0, 10.0), rate_range=(0.02, 0.1), min_word_seconds=0.0)
    ref = "hello there, this is a prompt."
    sentence = "A much longer text than the prompt, spoken sentence after sentence."
    long_text = " ".join([sentence] * 20)
    seconds_per_unit = rule.seconds_per_unit(ref, 1.5)
    assert 0.02 < seconds_per_unit < 0.1  # a normal prompt: its own rate, unclamped
    assert rule.frames(ref, 75, long_text, 1.0, RATE) == round(rule.units(long_text) * seconds_per_unit * RATE)
    # A ten-second prompt said to be "Hello." (transcript and audio do not match): the slowest rate allowed.
    assert rule.seconds_per_unit("Hello.", 10.0) == 0.1
    assert rule.frames("Hello.", 500, long_text, 1.0, RATE) == round(rule.units(long_text) * 0.1 * RATE)
    assert rule.seconds_per_unit("Hello there, how are you?", 0.05) == 0.02  # and the fastest


def test_a_prompt_transcript_with_nothing_to_count_is_refused():
    for name in ("bytes", "phones", "letters", "fitted", "learned"):
        with pytest.raises(ValueError, match="prompt transcript"):
            get_rule(name).frames("" if name == "bytes" else "...", 100, "hello", 1.0, RATE)


def test_registry():
    assert set(RULES) == {"bytes", "phones", "letters", "fitted", "learned"}
    assert DEFAULT_RULE in RULES and LEGACY_RULE == "phones"
    for name in RULES:
        rule = get_rule(name)
        assert rule.name == name
        frames = rule.frames("This is the prompt.", 120, "And this the new text.", 1.0, RATE)
        assert isinstance(frames, int) and frames >= 1
    with pytest.raises(ValueError, match="unknown duration rule 'syllables'.*fitted"):
        get_rule("syllables")


def test_the_committed_weights_load_and_say_what_they_were_fitted_on():
    record = read_weights()
    assert record["data"]["script"] == "python -m recipes.fit_duration"
    assert record["data"]["utterances"] > 100 and "asterisk" in record["data"]["source"]
    fitted = FittedRule.from_record(record["fitted"])
    assert fitted.weights[0] == 1.0 and all(w >= 0 for w in fitted.weights)
    assert 0 < fitted.rate_range[0] < fitted.rate_range[1] and fitted.min_word_seconds > 0
    assert FittedRule.from_record(fitted.to_record()) == fitted


def test_weights_of_another_format_are_refused(tmp_path):
    path = tmp_path / "w.json"
    path.write_text('{"format": 99}')
    with pytest.raises(ValueError, match="format 99"):
        read_weights(path)
    with pytest.raises(FileNotFoundError, match="recipes.fit_duration"):
        read_weights(tmp_path / "missing.json")
    with pytest.raises(ValueError, match="non-negative"):
        FittedRule((1.0, -1.0, 0.0, 0.0, 0.0), (0.01, 0.1), 0.1)


def test_a_model_config_records_its_weights_and_its_rule_follows_them(caplog):
    import copy
    import logging

    from tts import TTSConfig
    from tts.duration import package_weights

    config = TTSConfig.tiny()
    assert config.duration_weights == package_weights()  # a new model records the package's fit
    assert TTSConfig.tiny(duration_rule="phones").duration_weights is None  # a rule without numbers records none
    slower = copy.deepcopy(package_weights())
    slower["fitted"]["weights"]["utterance"] = 40.0  # a longer onset and release, in letters
    other = TTSConfig.tiny(duration_weights=slower)
    text = "And this the new text."
    base = get_rule("fitted", config.duration_weights).frames("This is the prompt.", 120, text, 1.0, RATE)
    assert get_rule("fitted", other.duration_weights).frames("This is the prompt.", 120, text, 1.0, RATE) != base
    assert TTSConfig.from_dict(other.to_dict()) == other  # saved and loaded with the model
    legacy = config.to_dict()
    del legacy["duration_weights"]
    with caplog.at_level(logging.INFO, logger="tts.model"):
        assert TTSConfig.from_dict(legacy).duration_weights == package_weights()
    assert "records no duration weights" in caplog.text
    broken = copy.deepcopy(package_weights())
    del broken["fitted"]["weights"]["commas"]
    with pytest.raises(ValueError, match="not a duration fit's record.*commas"):
        TTSConfig.tiny(duration_weights=broken)
    with pytest.raises(ValueError, match="format 99"):
        TTSConfig.tiny(duration_weights={"format": 99})


def test_the_synthesizer_plans_with_the_models_own_numbers(tiny_codec):
    import copy

    from tts import Synthesizer, TTSConfig, TTSModel
    from tts.duration import package_weights

    record = copy.deepcopy(package_weights())
    record["fitted"]["weights"]["utterance"] = 40.0
    tts = Synthesizer(TTSModel(TTSConfig.tiny(duration_weights=record)), tiny_codec, transcriber=lambda w, sr: "x")
    assert tts.rules.duration == FittedRule.from_record(record["fitted"]) != get_rule("fitted")
