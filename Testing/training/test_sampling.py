"""Training crops: a clean view of every augmented crop for the adaptation teacher; tight fields of view."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from GmmSegLib.inference.localisation import locate_from_ground_truth
from GmmSegLib.training.sampling import Batch, Perturbation, Volume, draw_batch, tight_fields_of_view


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


def test_crops_with_slice_context_carry_the_neighbours_through_the_same_frame(small_phantom):
    image = small_phantom.image.frame_volume(0)
    location = locate_from_ground_truth(small_phantom.labels[0], image.spacing_xyz)
    volumes = [Volume.from_image(image, location, small_phantom.labels[0])]
    plain = Perturbation(appearance=False)

    alone = draw_batch(volumes, 4, plain, torch.Generator().manual_seed(5))
    in_context = draw_batch(volumes, 4, plain, torch.Generator().manual_seed(5), context=1)

    assert in_context.images.shape == (4, 3, 128, 128)
    torch.testing.assert_close(in_context.images[:, :1], alone.images)  # the same slices, places and zooms
    torch.testing.assert_close(in_context.labels, alone.labels)  # labels are the middle slice's
    assert not torch.allclose(in_context.images[:, 1], in_context.images[:, 0])  # a neighbour, not a copy
    augmented = draw_batch(volumes, 2, Perturbation(), torch.Generator().manual_seed(5), keep_clean=True, context=1)
    assert augmented.images.shape == augmented.clean_images.shape == (2, 3, 128, 128)


def test_neighbour_jitter_moves_only_the_neighbouring_slices_of_a_crop(small_phantom):
    image = small_phantom.image.frame_volume(0)
    location = locate_from_ground_truth(small_phantom.labels[0], image.spacing_xyz)
    volumes = [Volume.from_image(image, location, small_phantom.labels[0])]

    aligned = draw_batch(volumes, 1, Perturbation(appearance=False), torch.Generator().manual_seed(5), context=1)
    jittered = draw_batch(
        volumes, 1, Perturbation(appearance=False, neighbour_shift_mm=3.0), torch.Generator().manual_seed(5), context=1
    )

    torch.testing.assert_close(jittered.images[:, 0], aligned.images[:, 0])  # the crop itself stays where it was
    torch.testing.assert_close(jittered.labels, aligned.labels)
    for channel in (1, 2):  # each neighbour moved, by at most 3 mm (2 pixels of 1.5 mm): still mostly alike
        difference = (jittered.images[:, channel] - aligned.images[:, channel]).abs().mean()
        assert 0.01 < float(difference) < 0.5 * float(aligned.images[:, channel].abs().mean())


def test_tight_fields_of_view_cut_slices_labels_and_location_alike(small_phantom):
    image = small_phantom.image.frame_volume(0)
    labels = small_phantom.labels[0]
    location = locate_from_ground_truth(labels, image.spacing_xyz)
    volume = Volume.from_image(image, location, labels)
    rows, columns = volume.slices.shape[-2:]

    views = tight_fields_of_view(volume, 6, torch.Generator().manual_seed(0))

    assert len(views) == 6
    sides = set()
    for view in views:
        side = view.slices.shape[-1]
        sides.add(side)
        assert view.slices.shape == (volume.slices.shape[0], side, side) == view.labels.shape
        assert 0.55 * min(rows, columns) - 1 <= side <= 0.8 * min(rows, columns)
        # the cut is a window of the stack: find it by its offset and compare pixel for pixel
        x0, y0 = (location.lv_centre_xy - view.location.lv_centre_xy).round().astype(int)
        torch.testing.assert_close(view.slices, volume.slices[:, y0 : y0 + side, x0 : x0 + side])
        torch.testing.assert_close(view.labels, volume.labels[:, y0 : y0 + side, x0 : x0 + side])
        # the heart stays in view, where the cut location says it is
        assert located_lv_centre(view) == pytest.approx(tuple(view.location.lv_centre_xy), abs=0.5)
        assert view.location.positions is location.positions
    assert len(sides) > 1  # random sizes
    again = tight_fields_of_view(volume, 6, torch.Generator().manual_seed(0))
    assert all(torch.equal(a.slices, b.slices) for a, b in zip(views, again, strict=True))


def located_lv_centre(volume: Volume) -> tuple[float, float]:
    return tuple(locate_from_ground_truth(volume.labels.numpy(), volume.spacing).lv_centre_xy)


def test_site_chance_picks_which_augmentation_a_crop_gets(small_phantom):
    """With site chance 0 a crop gets the older appearance augmentation (the recipe of models up to v7), with 1 a
    random other site; the two draw different images from the same random stream."""
    image = small_phantom.image.frame_volume(0)
    location = locate_from_ground_truth(small_phantom.labels[0], image.spacing_xyz)
    volumes = [Volume.from_image(image, location, small_phantom.labels[0])]
    older = draw_batch(volumes, 2, Perturbation(site_chance=0.0), torch.Generator().manual_seed(4))
    again = draw_batch(volumes, 2, Perturbation(site_chance=0.0), torch.Generator().manual_seed(4))
    sites = draw_batch(volumes, 2, Perturbation(site_chance=1.0), torch.Generator().manual_seed(4))
    assert torch.equal(older.images, again.images) and not torch.allclose(older.images, sites.images)


def _one_crop_with(phantom, chance_field: str) -> Callable[[float | None, int], Batch]:
    """``crop(chance, seed)``: one training crop of the phantom's first frame drawn with that chance of one
    appearance option (None: the option left at its default), from a generator seeded with ``seed``."""
    image = phantom.image.frame_volume(0)
    location = locate_from_ground_truth(phantom.labels[0], image.spacing_xyz)
    volumes = [Volume.from_image(image, location, phantom.labels[0])]

    def crop(chance: float | None, seed: int) -> Batch:
        perturbation = Perturbation() if chance is None else Perturbation(**{chance_field: chance})
        return draw_batch(volumes, 1, perturbation, torch.Generator().manual_seed(seed))

    return crop


def test_the_low_contrast_chance_darkens_crops_and_at_zero_leaves_the_random_stream_as_it_was(small_phantom):
    """At chance 0 a batch is drawn exactly as before the option existed (no random number taken for it), so earlier
    recipes train as they did; at chance 1 a crop (the same place, its labels unchanged) is darkened and noisier."""
    crop = _one_crop_with(small_phantom, "low_contrast_chance")

    def step(batch) -> float:  # the blood-to-myocardium step against the spread within the blood pool
        blood, myocardium = batch.images[:, 0][batch.labels == 1], batch.images[:, 0][batch.labels == 2]
        return float((blood.mean() - myocardium.mean()) / blood.std())

    assert torch.equal(crop(0.0, 7).images, crop(None, 7).images)
    steps = []
    for seed in range(6):
        kept, darkened = crop(0.0, seed), crop(1.0, seed)
        assert torch.equal(darkened.labels, kept.labels) and not torch.allclose(darkened.images, kept.images)
        if (kept.labels == 1).any() and (kept.labels == 2).any():
            steps.append((step(kept), step(darkened)))
    assert steps and all(darker < kept for kept, darker in steps)


def test_the_texture_network_chance_remaps_crops_and_at_zero_leaves_the_random_stream_as_it_was(small_phantom):
    """At chance 0 no random number is taken for it (earlier recipes train as they did); at chance 1 a crop, cut at
    the same place with the same labels, has other grey values."""
    crop = _one_crop_with(small_phantom, "texture_network_chance")
    assert torch.equal(crop(0.0, 7).images, crop(None, 7).images)
    for seed in range(3):
        kept, remapped = crop(0.0, seed), crop(1.0, seed)
        assert torch.equal(remapped.labels, kept.labels) and torch.equal(remapped.positions, kept.positions)
        assert not torch.allclose(remapped.images, kept.images) and torch.isfinite(remapped.images).all()
