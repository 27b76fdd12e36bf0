"""calibration — the simulator of voters and scanners, with known truth.

* :mod:`calibration.strokes` — pen strokes: marks, struck-out names, written words, signatures.
* :mod:`calibration.effects` — hanging seal, folds, bleed-through, scanner and phone effects.
* :mod:`calibration.simulate` — :func:`~calibration.simulate.render_page`,
  :func:`~calibration.simulate.blank_page` and whole decks with
  :func:`~calibration.simulate.simulate` (truth format in its docstring).
* :mod:`calibration.truth` — :func:`~calibration.truth.load_truth` for tests and benchmarks.
"""
