"""Data layer: real loaders (Caltech airplanes, hippocampus MRI), synthetic stand-ins, augmentation."""
from loihi_hybrid.data.augment import augment_boxes, augment_masks
from loihi_hybrid.data.caltech import load_caltech
from loihi_hybrid.data.hippocampus import load_hippocampus
from loihi_hybrid.data.splits import split_indices
from loihi_hybrid.data.synthetic import synthetic_airplanes, synthetic_hippocampus
from loihi_hybrid.data.types import ArraySplit, DataSplits, DataWarning

__all__ = [
    "ArraySplit",
    "DataSplits",
    "DataWarning",
    "augment_boxes",
    "augment_masks",
    "load_caltech",
    "load_hippocampus",
    "split_indices",
    "synthetic_airplanes",
    "synthetic_hippocampus",
]
