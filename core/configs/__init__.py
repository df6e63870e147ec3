"""Shared Hydra config groups (YAML only): sparse/, pruning/, regularizer/, trainer/.

Apps add ``pkg://core.configs`` to their ``hydra.searchpath``. Nothing here imports Hydra: the files
are plain YAML and the apps' recipes map their keys onto core's constructors.
"""
