"""Data: Decathlon/nnU-Net loader with validation, the embedded cohort (and single-template / synthetic sets), MONAI transforms."""
from apps.e2enet.data.cohort import build_cohort_dataset
from apps.e2enet.data.decathlon import Case, DecathlonDataset, load_dataset_json, split_cases, validate_cases, write_dataset_json
from apps.e2enet.data.embedded import MNI_VAL_CASES, build_mni_dataset, build_synthetic_dataset, default_cache_dir
from apps.e2enet.data.sampler import PatchSampler
from apps.e2enet.data.transforms import NORMALIZATIONS, augment_transforms, preprocess_transforms

__all__ = ["build_cohort_dataset", "Case", "DecathlonDataset", "load_dataset_json", "split_cases", "validate_cases", "write_dataset_json",
           "MNI_VAL_CASES", "build_mni_dataset", "build_synthetic_dataset", "default_cache_dir", "PatchSampler",
           "NORMALIZATIONS", "augment_transforms", "preprocess_transforms"]
