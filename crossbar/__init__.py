"""RRAM crossbar model: weights <-> conductances, non-idealities, periphery, in-situ updates.

A library of its own: it knows matrices, conductances and circuits, never spiking networks.
"""

from crossbar.errors import CrossbarError

__all__ = ["CrossbarError"]
