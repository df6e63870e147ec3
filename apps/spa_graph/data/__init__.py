"""Graph datasets: packaged real graphs read by PyG's own classes, user roots, synthetic SBM/LFR."""
from apps.spa_graph.data.datasets import DATASETS, GraphData, cache_root, expected_files, load_dataset
from apps.spa_graph.data.synthetic import lfr_graph, sbm_edges, sbm_graph

__all__ = ["DATASETS", "GraphData", "cache_root", "expected_files", "load_dataset", "sbm_edges", "sbm_graph", "lfr_graph"]
