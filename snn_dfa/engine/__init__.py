"""The clock-driven spiking engine: LIF neurons (numba kernels and NumPy references), layers,
networks, model builders, losses, optimisers and synapse backends.  Never imports
``snn_dfa.rules``, ``snn_dfa.app``, ``crossbar``, ``hwsim`` or torch (tests/test_layering.py)."""
