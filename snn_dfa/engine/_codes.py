"""Integer codes shared by the neuron enums (``snn_dfa.engine.neurons.Reset``,
``SurrogateKind``) and the numba kernels (``snn_dfa.engine._kernels``), defined once here."""

RESET_SUBTRACT, RESET_ZERO, RESET_NONE = 0, 1, 2
SURROGATE_FAST_SIGMOID, SURROGATE_TRIANGLE, SURROGATE_ARCTAN = 0, 1, 2
