"""Training recipes, launched with `accelerate launch`: data preparation, latent extraction, codec, TTS.

The only package that imports `accelerate`. See recipes/README.md for the command lines.
"""
