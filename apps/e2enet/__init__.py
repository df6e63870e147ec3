"""E2ENet: 3D medical segmentation with dynamic sparse feature fusion and restricted depth shift (arXiv 2312.04727)."""
