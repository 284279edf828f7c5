"""Synthesis rules by family, chosen by the name a model's config records (`TTSConfig.rules`)."""
from .base import MIN_REF_SECONDS, Piece, Reference, Rules, Transcriber
from .cubetts import CubeRules
from .f5 import F5Rules

RULES: dict[str, type[Rules]] = {CubeRules.name: CubeRules, F5Rules.name: F5Rules}

__all__ = ["RULES", "Rules", "CubeRules", "F5Rules", "Reference", "Piece", "Transcriber", "MIN_REF_SECONDS"]
