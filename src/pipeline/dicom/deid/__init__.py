"""De-identification: the PS3.15 Annex E Basic Application Level Confidentiality Profile.

- :mod:`.profile`: Table E.1-1 as data, resolved for the CT Image IOD and the enabled options.
- :mod:`.actions`: the D/Z/X/K/C/U actions applied to a dataset, recursively.
- :mod:`.pseudonyms`: keyed UIDs, patient pseudonyms and date shifts (HMAC-SHA256), key loading.
- :mod:`.dates`: whole-day date shifting.
- :mod:`.screen`: images with likely burned-in text (quarantined).
- :mod:`.verify`: the independent leak check of every output file.
- :mod:`.writer`: byte-identical, fast encoding of a de-identified file (pydicom's ``save_as``).
- :mod:`.cohort`: series-parallel driver, folder grouping, tables and metrics.
"""
