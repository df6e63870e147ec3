"""GraphPart's partition step against GraphPart's own code and partition file.

Needs a checkout of Mars-tin/GraphPart named by $GRAPHPART_REPO (its ``partition.py`` is imported from
there at run time; nothing of it is in this repository); skipped otherwise. The CNM test without it
checks the partition's invariants on small graphs.
"""
import json
import os
import sys
import types
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from apps.spa_graph.data import load_dataset
from apps.spa_graph.graph import clean_adjacency
from apps.spa_graph.selectors.cnm import graphpart_cnm
from apps.spa_graph.selectors.graphpart import MAX_PART, graphpart_partition

REPO = os.environ.get("GRAPHPART_REPO")


def test_cnm_partitions_the_non_isolated_nodes_and_finds_planted_cliques():
    g = nx.karate_club_graph()
    adj = clean_adjacency(np.array(list(g.edges())).T, 36).adj        # nodes 34, 35 isolated
    comms = graphpart_cnm(adj)
    members = np.sort(np.concatenate(comms))
    np.testing.assert_array_equal(members, np.arange(34))
    assert [len(c) for c in comms] == sorted((len(c) for c in comms), reverse=True)
    assert nx.community.modularity(g, [set(c.tolist()) for c in comms]) > 0.37
    cliques = [(a, b) for blk in (range(0, 5), range(5, 10)) for a in blk for b in blk if a < b] + [(4, 5)]
    two = graphpart_cnm(clean_adjacency(np.array(cliques).T, 10).adj)
    assert sorted(c.tolist() for c in two) == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]


@pytest.mark.skipif(not REPO, reason="set GRAPHPART_REPO to a Mars-tin/GraphPart checkout to compare with its code")
@pytest.mark.parametrize("name", ["cora", "citeseer"])
def test_partition_equals_graphparts_code_and_file(name):
    sys.modules.setdefault("models", types.SimpleNamespace(Cluster=object))   # partition.py imports it, unused here
    sys.path.insert(0, REPO)
    from partition import GraphPartition

    d = load_dataset(name)
    coo = d.adj.tocoo()
    g = nx.Graph()
    g.add_edges_from(zip(coo.row.tolist(), coo.col.tolist()))
    theirs = GraphPartition(g.to_undirected(), d.x, d.num_classes).clauset_newman_moore()
    ours = graphpart_cnm(d.adj)
    assert [sorted(c) for c in theirs] == [c.tolist() for c in ours]
    ref = np.array(json.loads((Path(REPO) / "data" / "partitions.json").read_text())[name]["partition"])
    got = graphpart_partition(d.adj, d.x.numpy(), MAX_PART[name], ours)
    np.testing.assert_array_equal(got, ref)
