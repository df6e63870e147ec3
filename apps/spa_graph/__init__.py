"""SPA: SCAN + PageRank graph active learning (arXiv 2312.04307) with its baselines, on real graphs offline."""
