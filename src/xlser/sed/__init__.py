"""Speech emotion diarization (the study's Table IV): frame-level emotions on ZED, scored by EDER.

Driven by `workflow/rules/sed.smk` (sed_draw, sed_subset, diarize, table4_eder).

`subset` picks the evaluation utterances, `backends` produces frame labels (speechbrain's
own `Speech_Emotion_Diarization`, or an SSL encoder + a trained frame-level probe),
`eder` scores frames and listeners' segments with `speechbrain.utils.EDER`, `table4`
writes the table and the timeline figure, `sb_checkpoint` writes a tiny speechbrain-format
model for tests and offline runs.

Frame labels are single letters, as speechbrain's recipe and EDER use them: the first
letter of the emotion word (`n` neutral, `a` angry, `h` happy, `s` sad).
"""
