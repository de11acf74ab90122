"""Task metrics (box IoU, Dice) and firing-rate accounting."""
from .boxes import box_iou, corner_error_px, giou_loss, mean_box_baseline
from .firing import RateMeter
from .segmentation import dice_per_slice, dice_per_volume

__all__ = ["box_iou", "corner_error_px", "giou_loss", "mean_box_baseline", "RateMeter", "dice_per_slice", "dice_per_volume"]
