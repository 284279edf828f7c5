"""Training recipes, launched with `accelerate launch`: data preparation, latent extraction, codec, TTS.

The only package that imports `accelerate`. See the README section "Training" for the command lines.
"""
