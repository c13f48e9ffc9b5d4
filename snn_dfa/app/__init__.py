"""The application: the main job's config, experiment, hardware meter, results, report, sweep
and command line.  The only part of ``snn_dfa`` that imports ``crossbar`` and ``hwsim``
(tests/test_layering.py)."""
