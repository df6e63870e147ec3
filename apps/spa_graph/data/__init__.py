"""Graph datasets: packaged real graphs and user roots read by our own safe parsers, your own graph files
(``own_graph``), synthetic SBM/LFR."""
from apps.spa_graph.data.datasets import DATASETS, GraphData, expected_files, from_tensors, load_dataset
from apps.spa_graph.data.own_graph import load_graph_file
from apps.spa_graph.data.synthetic import lfr_graph, sbm_edges, sbm_graph

__all__ = ["DATASETS", "GraphData", "expected_files", "from_tensors", "load_dataset", "load_graph_file", "sbm_edges",
           "sbm_graph", "lfr_graph"]
