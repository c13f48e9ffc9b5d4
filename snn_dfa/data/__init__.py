"""Wearable-sensor, image, graph and text data sets: loaders, preprocessing, splits, streams, registry.

The default data set is UCI HAPT (:func:`load_hapt`), converted offline from a pip
package into a verified HDF5 cache; see ``datasets/README.md`` for every source.
"""

from snn_dfa.data.basicmotions import load_basic_motions
from snn_dfa.data.cache import default_cache_dir
from snn_dfa.data.digits import load_digits
from snn_dfa.data.fashion_mnist import load_fashion_mnist, read_idx
from snn_dfa.data.graphs import (
    GraphData,
    NodeSplit,
    load_citeseer,
    load_cora,
    load_graph,
    normalized_adjacency,
    per_class_split,
    random_split,
    row_normalize,
)
from snn_dfa.data.hapt import load_hapt
from snn_dfa.data.hhar import load_hhar
from snn_dfa.data.records import UNLABELLED, HarWindows, ImageSet
from snn_dfa.data.registry import DatasetInfo, download, registry
from snn_dfa.data.text import (
    encode_characters,
    load_tiny_shakespeare,
    unigram_entropy_nats,
)
from snn_dfa.data.uci_har import load_uci_har
from snn_dfa.data.unimib import load_unimib_shar
from snn_dfa.data.windows import (
    UCI_HAR_TEST_SUBJECTS,
    UCIHAR9_CHANNELS,
    Normalizer,
    UciHarFilterParams,
    adaptation_split,
    subject_split,
    subject_stream,
    ucihar_channels,
)

__all__ = [
    "UCIHAR9_CHANNELS",
    "UCI_HAR_TEST_SUBJECTS",
    "UNLABELLED",
    "DatasetInfo",
    "GraphData",
    "HarWindows",
    "ImageSet",
    "NodeSplit",
    "Normalizer",
    "UciHarFilterParams",
    "adaptation_split",
    "default_cache_dir",
    "download",
    "encode_characters",
    "load_basic_motions",
    "load_citeseer",
    "load_cora",
    "load_digits",
    "load_fashion_mnist",
    "load_graph",
    "load_hapt",
    "load_hhar",
    "load_tiny_shakespeare",
    "load_uci_har",
    "load_unimib_shar",
    "normalized_adjacency",
    "per_class_split",
    "random_split",
    "read_idx",
    "registry",
    "row_normalize",
    "subject_split",
    "subject_stream",
    "ucihar_channels",
    "unigram_entropy_nats",
]
