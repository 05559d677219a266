"""Click refinement: geodesic encoding, fusion, locality, consistency, bad clicks."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from GmmSegLib.clinical.refinement import fused_probability, geodesic_distance, label_probabilities, refine
from GmmSegLib.core.clicks import Click
from GmmSegLib.core.errors import GmmSegError
from GmmSegLib.evaluation.metrics import dice


def test_geodesic_distance_is_blocked_by_edges():
    image = torch.zeros(40, 40)
    image[:, 20:] = 5.0  # a strong edge down the middle
    seeds = torch.zeros(40, 40, dtype=torch.bool)
    seeds[20, 10] = True
    distance = geodesic_distance(image, seeds, pixel_mm=1.0, length_mm=10.0)
    assert float(distance[20, 10]) == 0.0
    assert float(distance[20, 18]) == pytest.approx(0.8, abs=1e-5)  # 8 flat pixels of 1 mm / 10 mm
    assert float(distance[20, 22]) > 5.0  # crossing the edge costs its height


def test_fusion_follows_clicks_near_them_and_the_model_far_away():
    probability = torch.full((1, 50), 0.2)
    distance_f = torch.linspace(0, 10, 50)[None]
    fused = fused_probability(probability, distance_f, torch.full((1, 50), float("inf")))
    assert float(fused[0, 0]) == pytest.approx(1.0)
    assert float(fused[0, -1]) == pytest.approx(0.2, abs=1e-3)


def _corrupted_slice(small_phantom):
    image, truth = small_phantom.image.frames[0, 2], small_phantom.labels[0, 2]
    wrong = truth.copy()
    wrong[(truth == 1) & (np.arange(truth.shape[1])[None] < np.nonzero(truth == 1)[1].mean())] = 2  # half the LV lost
    probabilities = np.stack([(wrong == k) * 0.8 + 0.05 for k in range(4)]).astype(np.float32)
    return image, truth, wrong, probabilities


def test_a_click_in_the_missed_part_recovers_it_locally(small_phantom):
    image, truth, wrong, probabilities = _corrupted_slice(small_phantom)
    ys, xs = np.nonzero((truth == 1) & (wrong != 1))
    click = (int(np.median(xs)), int(np.median(ys)))
    result = refine(image, probabilities, wrong, "LV", [click], [], pixel_mm=1.5)
    assert dice(result.labels == 1, truth == 1) > dice(wrong == 1, truth == 1) + 0.1
    x0, y0, x1, y1 = result.box
    outside = np.ones_like(wrong, bool)
    outside[y0 : y1 + 1, x0 : x1 + 1] = False
    assert np.array_equal(result.labels[outside], wrong[outside])
    assert set(np.unique(result.labels)) <= {0, 1, 2, 3}
    assert result.changed_pixels == int((result.labels != wrong).sum())


def test_invalid_clicks_are_refused_and_change_nothing(small_phantom):
    image, _, wrong, probabilities = _corrupted_slice(small_phantom)
    before = wrong.copy()
    with pytest.raises(GmmSegError, match="outside the slice"):
        refine(image, probabilities, wrong, "LV", [(500, 3)], [], pixel_mm=1.5)
    with pytest.raises(GmmSegError, match="no clicks"):
        refine(image, probabilities, wrong, "LV", [], [], pixel_mm=1.5)
    with pytest.raises(GmmSegError, match="unknown structure"):
        refine(image, probabilities, wrong, "aorta", [(10, 10)], [], pixel_mm=1.5)
    assert np.array_equal(wrong, before)


def test_a_structure_the_model_missed_entirely_can_be_clicked_in(small_phantom):
    """Empty structure: no RV in the labels nor in the probabilities; one click in the RV blood draws it there."""
    image, truth = small_phantom.image.frames[0, 2], small_phantom.labels[0, 2]
    missing = np.where(truth == 3, 0, truth).astype(np.uint8)
    probabilities = np.stack([(missing == k) * 0.8 + 0.05 for k in range(4)]).astype(np.float32)
    ys, xs = np.nonzero(truth == 3)
    click = (int(np.median(xs)), int(np.median(ys)))
    result = refine(image, probabilities, missing, "RV", [click], [], pixel_mm=1.5)
    assert result.labels[click[1], click[0]] == 3
    assert (result.labels == 3).sum() > 50 and dice(result.labels == 3, truth == 3) > 0.2  # one click: a start
    assert np.array_equal(result.labels[truth == 1], missing[truth == 1])  # the LV is left alone


def test_growcut_baseline_segments_from_clicks(small_phantom):
    """The benchmark's GrowCut (Slicer's vtkImageGrowCutSegment) grows the clicked structure, not the whole box."""
    pytest.importorskip("slicer", reason="slicer-core provides vtkImageGrowCutSegment")
    from bench_interactive import Prompts, SliceCase, growcut_refiner

    image, truth, wrong, probabilities = _corrupted_slice(small_phantom)
    case = SliceCase(image, probabilities, wrong, truth, 1.5)
    ys, xs = np.nonzero(truth == 1)
    inside = (int(np.median(xs)), int(np.median(ys)))
    grown = growcut_refiner()(case, wrong, "LV", Prompts([Click(*inside, "LV", True)])) == 1
    assert grown[inside[1], inside[0]]
    assert dice(grown, truth == 1) > 0.8


def test_labels_stand_for_probabilities_with_soft_boundaries():
    labels = np.zeros((30, 30), np.uint8)
    labels[8:22, 8:22] = 2
    labels[12:18, 12:18] = 1
    probabilities = label_probabilities(labels)
    assert probabilities.shape == (4, 30, 30) and np.allclose(probabilities.sum(axis=0), 1.0, atol=1e-6)
    assert np.array_equal(probabilities.argmax(axis=0), labels)
    assert 0.6 < probabilities[1, 12, 15] < 0.85 < probabilities[1, 15, 15]  # less sure at the border
    assert probabilities[0, 2, 2] > 0.99
    assert 0.5 < probabilities[2, 8, 8] < 0.9  # a corner keeps its label


def _small_cavity() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """An apical slice: a true LV cavity of radius 3 px in its myocardium, drawn with an overflow of 3 px to the
    right; the image is flat, so that nothing but the clicks and probabilities decides."""
    yy, xx = np.mgrid[:40, :40]
    truth = np.zeros((40, 40), np.uint8)
    truth[np.hypot(yy - 20, xx - 20) < 8] = 2
    truth[np.hypot(yy - 20, xx - 20) < 3.5] = 1
    drawn = truth.copy()
    drawn[(np.hypot(yy - 20, xx - 21.5) < 4.5) & (truth > 0)] = 1  # the cavity runs over into the wall
    probabilities = np.stack([(drawn == k) * 0.8 + 0.05 for k in range(4)]).astype(np.float32)
    return np.zeros((40, 40), np.float32), truth, drawn, probabilities


def test_a_background_click_on_an_overflow_trims_a_small_cavity_and_one_in_its_middle_removes_it():
    image, truth, drawn, probabilities = _small_cavity()
    overflow = (drawn == 1) & (truth != 1)
    ys, xs = np.nonzero(overflow)
    at_edge = int(np.argmax(xs))  # the overflow's outer edge, where a reader clicks "not LV"
    trimmed = refine(image, probabilities, drawn, "LV", [], [(int(xs[at_edge]), int(ys[at_edge]))], pixel_mm=1.5)
    # every pixel lies within the click's reach, yet the cavity's core stays LV: trimmed, not erased
    assert (trimmed.labels == 1).any() and trimmed.labels[20, 20] == 1
    assert (trimmed.labels == 1).sum() < (drawn == 1).sum()
    assert not ((trimmed.labels == 1) & (drawn != 1)).any()
    removed = refine(image, probabilities, drawn, "LV", [], [(21, 20)], pixel_mm=1.5)  # in its middle: not here
    assert not (removed.labels == 1).any()


def test_a_click_reaches_further_in_the_right_ventricle_than_in_the_left():
    """The RV, a large blood pool the model tends to miss whole where it fails, is reached further per click
    (GEODESIC_LENGTH_MM); through the same flat image and the same unsure probabilities, one click draws more of it."""
    from GmmSegLib.clinical.refinement import GEODESIC_LENGTH_MM

    assert GEODESIC_LENGTH_MM["RV"] > GEODESIC_LENGTH_MM["LV"] == GEODESIC_LENGTH_MM["MYO"]
    image = np.zeros((80, 80), np.float32)
    labels = np.zeros((80, 80), np.uint8)
    probabilities = np.stack([np.full((80, 80), p, np.float32) for p in (0.7, 0.1, 0.1, 0.1)])
    drawn = {
        structure: int((refine(image, probabilities, labels, structure, [(40, 40)], [], 1.5).labels > 0).sum())
        for structure in ("LV", "RV")
    }
    assert drawn["RV"] > 2 * drawn["LV"] > 0
    # a length given is used for every structure alike
    same = refine(image, probabilities, labels, "RV", [(40, 40)], [], 1.5, geodesic_length_mm=GEODESIC_LENGTH_MM["LV"])
    assert int((same.labels > 0).sum()) == drawn["LV"]


def test_a_background_click_alone_never_adds_to_the_structure():
    """ "Not LV" only takes away, even where the model half believes in LV around the cavity: the core it keeps as a
    seed protects the cavity and does not grow it."""
    yy, xx = np.mgrid[:48, :48]
    radius = np.hypot(yy - 24, xx - 24)
    drawn = np.where(radius < 8, 1, 0).astype(np.uint8)
    lv = np.where(radius < 8, 0.8, np.where(radius < 11, 0.45, 0.02)).astype(np.float32)
    probabilities = np.stack([1 - lv, lv, np.zeros_like(lv), np.zeros_like(lv)])
    edge = (31, 24)  # on the cavity's border, where a reader clicks to trim it
    refined = refine(np.zeros((48, 48), np.float32), probabilities, drawn, "LV", [], [edge], pixel_mm=1.5)
    assert not ((refined.labels == 1) & (drawn != 1)).any()
    assert refined.labels[edge[1], edge[0]] != 1 and refined.labels[24, 24] == 1


def _ring_with_overflow() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """A myocardial ring (radius 14 to 20 px round (50, 50)) drawn 4 px too thick outside it over a right-hand arc,
    where the tissue beyond looks like myocardium; and the midline of that overflow, as a clinician scribbles it."""
    yy, xx = np.mgrid[:100, :100]
    radius, angle = np.hypot(yy - 50, xx - 50), np.arctan2(yy - 50, xx - 50)
    truth = np.zeros((100, 100), np.uint8)
    truth[radius < 20] = 2
    truth[radius < 14] = 1
    drawn = truth.copy()
    drawn[(radius >= 20) & (radius < 24) & (np.abs(angle) < 1.0)] = 2
    image = np.where(truth == 1, 3.0, 1.0).astype(np.float32)  # bright blood; wall and what lies outside alike
    probabilities = np.stack([(drawn == k) * 0.8 + 0.05 for k in range(4)]).astype(np.float32)
    midline = [(round(50 + 22 * np.cos(a)), round(50 + 22 * np.sin(a))) for a in np.linspace(-0.9, 0.9, 13)]
    return image, truth, drawn, probabilities, midline


def test_a_scribble_along_an_overflow_trims_it_without_eating_into_the_ring_beside_it():
    """A scribble marks the strip it is drawn along; the same points as clicks would each speak for 15 mm around
    them, and across tissue that looks alike that takes the true ring away too."""
    image, truth, drawn, probabilities, midline = _ring_with_overflow()
    scribbled = refine(image, probabilities, drawn, "MYO", [], [], pixel_mm=1.0, background_strokes=midline)
    clicked = refine(image, probabilities, drawn, "MYO", [], midline, pixel_mm=1.0)
    ring, overflow = truth == 2, (drawn == 2) & (truth != 2)
    assert (scribbled.labels[overflow] != 2).mean() > 0.9  # the overflow is gone along the whole arc
    assert (scribbled.labels[ring] == 2).mean() > 0.9  # the ring stays, but for a pixel or two at its edge
    assert (clicked.labels[ring] == 2).mean() < (scribbled.labels[ring] == 2).mean() - 0.2
    assert dice(scribbled.labels == 2, ring) > max(dice(drawn == 2, ring), dice(clicked.labels == 2, ring))
    with pytest.raises(GmmSegError, match="background scribble click .* is outside the slice"):
        refine(image, probabilities, drawn, "MYO", [], [], pixel_mm=1.0, background_strokes=[(100, 5)])


def test_nothing_beyond_the_prompts_reach_changes_even_where_the_model_was_unsure():
    """An LV cavity the model labels with a probability of only 0.45 (the most probable of four classes): a
    scribble at its left edge leaves its far side alone, though the CRF alone would read it as not LV."""
    yy, xx = np.mgrid[:100, :100]
    labels = np.where(np.hypot(yy - 50, xx - 50) < 20, 1, 0).astype(np.uint8)
    probabilities = np.where(
        labels == 1, [[[0.25]], [[0.45]], [[0.15]], [[0.15]]], [[[0.9]], [[0.05]], [[0.0]], [[0.05]]]
    )
    image = np.where(labels == 1, 2.0, 1.0).astype(np.float32)
    result = refine(
        image, probabilities.astype(np.float32), labels, "LV", [], [], 1.0, foreground_strokes=[(32, 50), (31, 48)]
    )
    far_side = (labels == 1) & (xx > 45)
    assert np.array_equal(result.labels[far_side], labels[far_side])


def test_the_carry_benchmark_counts_what_a_shared_error_saves_and_leaves_a_right_slice_alone(small_phantom):
    """Three slices: the corrected one and the one below lost half the LV the same way, the one above is right. The
    carry reaches only the slice that shares the error (a click on an already right pixel is not carried) and fixes
    it there, which the report counts."""
    from bench_carry import Stack, carry_benchmark, other_phase
    from bench_interactive import SliceCase, geodesic_refiner

    image, truth, wrong, probabilities = _corrupted_slice(small_phantom)
    right = np.stack([(truth == k) * 0.8 + 0.05 for k in range(4)]).astype(np.float32)
    slices = {
        4: SliceCase(image, right, truth, truth, 1.5),
        5: SliceCase(image, probabilities, wrong, truth, 1.5),  # the worst slice for the LV: corrected first
        6: SliceCase(image, probabilities, wrong.copy(), truth, 1.5),
    }
    missed = np.argwhere((truth == 1) & (wrong != 1))
    slices[6].labels[tuple(missed[0])] = 1  # one missed pixel less, so that slice 5 alone is the worst
    lv = carry_benchmark([Stack("phantom", slices)], geodesic_refiner(), max_clicks=3)["LV"]
    assert lv["corrected_slices"] == 1 and lv["slices_carried_to"] == 1
    assert lv["dice_after"] > lv["dice_before"] + 0.1 and lv["slices_better"] == 1 and lv["slices_worse"] == 0
    assert lv["NoC@90_after_carry"] < lv["NoC@90_without_carry"]
    # slice 4 needs no click either way; slice 6 needs the button instead of its clicks
    assert lv["interactions_on_the_targets_with_carry"] < lv["interactions_on_the_targets_without_carry"]
    # the same three slices as the other phase of the cine: slice 5 carried to the same slice there, which shares
    # the error
    other = Stack("phantom ES", {z: replace(case, labels=case.labels.copy()) for z, case in slices.items()}, "p")
    stacks = [replace(Stack("phantom", slices), patient="p"), other]
    lv = carry_benchmark(stacks, geodesic_refiner(), max_clicks=3, targets=other_phase)["LV"]
    assert lv["slices_carried_to"] >= 1 and lv["dice_after"] > lv["dice_before"] + 0.1


def test_only_clicks_on_the_same_wrong_label_are_carried():
    from bench_carry import clicks_sharing_the_error

    before = np.zeros((4, 4), np.uint8)  # the refined slice before its refinement: background, the wall at (0, 0)
    before[0, 0] = 2
    other = np.zeros((4, 4), np.uint8)
    other[1, 1] = 3  # wrong in another way there
    other[2, 2] = 1  # already the clicked structure there
    clicks = [
        Click(3.0, 3.0, "LV", True),  # background on both slices: the same error
        Click(1.0, 1.0, "LV", True),
        Click(2.2, 1.8, "LV", True),  # rounds to (x 2, y 2)
        Click(0.0, 0.0, "MYO", False),  # the wall overflowed there: carried only where the other slice has it too
    ]
    assert clicks_sharing_the_error(clicks, before, other) == [clicks[0]]
    other[0, 0] = 2
    assert clicks_sharing_the_error(clicks, before, other) == [clicks[0], clicks[3]]
