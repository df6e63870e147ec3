"""GNNs of the protocol (PyG): 2-layer GCN and GraphSAGE."""
from apps.spa_graph.models.gnn import MODELS, GNN, build_model

__all__ = ["MODELS", "GNN", "build_model"]
