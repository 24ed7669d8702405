"""The validated config, resolved once into typed, immutable settings.

Defaults live in the JSON schema alone (`workflow/schemas/config.schema.yaml`); this module
applies them once and hands rules, scripts and the library frozen dataclasses, so no other
place guesses a default.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Optim:
    """Optimiser and early-stopping settings, shared by probes, fine-tuning and the SED probe.

    AdamW with `lr`, `eps`, `weight_decay`; up to `max_epochs`, stopping when validation
    loss has not improved for `patience` epochs; `seed` seeds initialisation and shuffling.
    """

    lr: float
    eps: float
    weight_decay: float
    batch_size: int
    max_epochs: int
    patience: int
    seed: int
