"""Learning rules (BPTT, DFA, clock-driven SFDFA, Shallow), feedback projectors, the alignment
diagnostic, online and streaming adaptation, and the scikit-learn-style estimator.  Imports the
engine; never ``snn_dfa.app``, ``crossbar``, ``hwsim`` or torch (tests/test_layering.py)."""
