"""Training crops: a clean view of every augmented crop for the adaptation teacher."""

from __future__ import annotations

import torch

from GmmSegLib.localisation import locate_from_ground_truth
from GmmSegLib.sampling import Perturbation, Volume, draw_batch


def test_a_clean_view_is_the_same_crop_before_appearance_augmentation(small_phantom):
    image = small_phantom.image.frame_volume(0)
    location = locate_from_ground_truth(small_phantom.labels[0], image.spacing_xyz)
    volumes = [Volume.from_image(image, location, small_phantom.labels[0])]

    augmented = draw_batch(volumes, 1, Perturbation(), torch.Generator().manual_seed(3), keep_clean=True)
    plain = draw_batch(volumes, 1, Perturbation(appearance=False), torch.Generator().manual_seed(3))

    assert augmented.clean_images.shape == augmented.images.shape == (1, 1, 128, 128)
    torch.testing.assert_close(augmented.clean_images, plain.images)  # same place, shift, rotation and zoom
    torch.testing.assert_close(augmented.labels, plain.labels)
    assert not torch.allclose(augmented.images, augmented.clean_images, atol=1e-3)  # the student's view differs
    assert draw_batch(volumes, 2, Perturbation(), torch.Generator().manual_seed(3)).clean_images is None
