"""The click refiner: its window, the simulated clinician, the refiner stage's examples, and refinement by it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from GmmSegLib.clinical.network_refinement import refine_by_network
from GmmSegLib.core.clicks import Box, Click, scribble
from GmmSegLib.core.errors import GmmSegError
from GmmSegLib.core.labels import NUM_CLASSES
from GmmSegLib.model.bundle import GmmSegModel, load_model, save_model
from GmmSegLib.model.click_refiner import (
    WINDOW_SIZE,
    ClickRefiner,
    SliceWindow,
    prompt_maps,
    window_labels,
    window_probabilities,
)
from GmmSegLib.training.refiner_stage import corrupted, draw_refinement_batch, refinement_examples
from GmmSegLib.training.simulated_clicks import simulated_box, simulated_click, simulated_scribble


def _rings(shape=(180, 200), centre=(90, 100)) -> np.ndarray:
    """LV disk, myocardial ring and an RV crescent on a slice."""
    y, x = np.mgrid[: shape[0], : shape[1]]
    r = np.hypot(y - centre[0], x - centre[1])
    labels = np.zeros(shape, np.uint8)
    labels[(np.hypot(y - centre[0], x - centre[1] + 28) < 26) & (r >= 22)] = 3
    labels[r < 22] = 2
    labels[r < 14] = 1
    return labels


class AgreeingRefiner(nn.Module):
    """A refiner that answers the current labels it is given (input channels 1-4 are their one-hot)."""

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return 20.0 * inputs[:, 1 : 1 + NUM_CLASSES]


class RingRefiner(nn.Module):
    """A refiner that always answers the same window labels (``answer``, N x N)."""

    def __init__(self, answer: torch.Tensor):
        super().__init__()
        self.answer = answer

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return 20.0 * nn.functional.one_hot(self.answer, NUM_CLASSES).permute(2, 0, 1)[None].float()


def test_a_window_round_trip_keeps_the_labels():
    labels = _rings()
    window = SliceWindow.around(labels, [], (1.25, 1.25))
    on_window = window_labels(window, torch.from_numpy(labels))
    assert on_window.shape == (WINDOW_SIZE, WINDOW_SIZE) and set(on_window.unique().tolist()) == {0, 1, 2, 3}
    one_hot = nn.functional.one_hot(on_window, NUM_CLASSES).permute(2, 0, 1).float()
    back, (rows, columns) = window.back_to_native(one_hot, labels.shape)
    agreement = (back.argmax(0).numpy() == labels[rows, columns]).mean()
    assert agreement > 0.98  # only boundary pixels move in the round trip
    # the window covers 192 mm: at 1.25 mm pixels about 154 of the 200 columns, centred on the heart
    assert 150 <= columns.stop - columns.start <= 155


def test_probabilities_beyond_the_slice_are_background():
    window = SliceWindow(5.0, 5.0, 1.5, 1.5)  # a heart at the slice's corner: most of the window lies outside it
    probabilities = torch.zeros(NUM_CLASSES, 20, 20)
    probabilities[2] = 1.0
    sampled = window_probabilities(window, probabilities)
    torch.testing.assert_close(sampled.sum(0), torch.ones(WINDOW_SIZE, WINDOW_SIZE))
    assert float(sampled[0, 0, 0]) == 1.0 and float(sampled[2, 64, 64]) == 1.0


def test_prompt_maps_put_each_kind_of_click_and_each_boxed_structure_in_its_own_channel():
    maps = prompt_maps([Click(10, 20, "MYO", True), Click(100, 50, "RV", False)], [Box(30, 40, 60, 70, "RV")])
    assert maps.shape == (9, WINDOW_SIZE, WINDOW_SIZE)
    assert float(maps[1, 20, 10]) == 1.0 and float(maps[5, 50, 100]) == 1.0
    assert float(maps[[0, 2, 3, 4, 6, 7]].max()) == 0.0
    assert float(maps[1, 20, 13]) < 1.0  # a Gaussian around the click
    assert float(maps[8, 40, 30]) == float(maps[8, 70, 60]) == 1.0 and float(maps[8].sum()) == 31 * 31


def test_the_simulated_clinician_clicks_the_largest_error_as_expected():
    truth = _rings()
    thin = truth.copy()
    thin[(truth == 2) & (np.arange(truth.shape[1])[None] > 105)] = 0  # a stretch of ring lost
    click = simulated_click(thin, truth)
    assert click == Click(click.x, click.y, "MYO", True) and truth[int(click.y), int(click.x)] == 2
    blown = truth.copy()
    blown[80:100, 140:170] = 3  # the RV spills over background
    click = simulated_click(blown, truth)
    assert not click.foreground and click.structure == "RV" and truth[int(click.y), int(click.x)] == 0
    assert simulated_click(truth, truth) is None
    random = simulated_click(thin, truth, torch.Generator().manual_seed(0))
    assert thin[int(random.y), int(random.x)] != truth[int(random.y), int(random.x)]


def test_refining_changes_only_what_the_refiner_changes_and_obeys_the_clicks():
    labels = _rings()
    image = labels.astype(np.float32) * 100
    probabilities = np.stack([(labels == k) * 0.9 + 0.025 for k in range(NUM_CLASSES)]).astype(np.float32)
    clicks = [Click(100.0, 90.0, "MYO", True), Click(130.0, 90.0, "MYO", False)]
    result = refine_by_network(AgreeingRefiner(), image, probabilities, labels, clicks, (1.5, 1.5))
    expected = labels.copy()
    expected[90, 100] = 2  # the foreground click; the background click's pixel was background already
    assert np.array_equal(result.labels, expected) and result.changed_pixels == 1


def test_the_refiners_answer_replaces_the_window_but_nothing_outside_it():
    truth = _rings()
    lost = truth.copy()
    lost[truth == 3] = 0  # the RV missed
    window = SliceWindow.around(lost, [(72.0, 90.0)], (1.5, 1.5))
    answer = window_labels(window, torch.from_numpy(truth))
    image = truth.astype(np.float32)
    probabilities = np.stack([(lost == k) * 1.0 for k in range(NUM_CLASSES)]).astype(np.float32)
    result = refine_by_network(
        RingRefiner(answer), image, probabilities, lost, [Click(72.0, 90.0, "RV", True)], (1.5, 1.5)
    )
    assert (result.labels == truth).mean() > 0.995  # the whole RV back from one click
    x0, y0, x1, y1 = result.box
    outside = np.ones_like(lost, bool)
    outside[y0 : y1 + 1, x0 : x1 + 1] = False
    assert np.array_equal(result.labels[outside], lost[outside])


def test_a_scribble_is_a_line_of_clicks_and_the_simulated_clinician_draws_them_inside_the_error():
    stroke = scribble([(10.0, 10.0), (10.0, 22.0), (19.0, 22.0)], "LV", False)
    assert len(stroke) == 8 and all(c.structure == "LV" and not c.foreground for c in stroke)
    assert (stroke[0].x, stroke[0].y, stroke[-1].x, stroke[-1].y) == (10.0, 10.0, 19.0, 22.0)
    truth = _rings()
    thin = truth.copy()
    thin[(truth == 2) & (np.arange(truth.shape[1])[None] > 105)] = 0
    drawn = simulated_scribble(thin, truth)
    assert len(drawn) > 3 and all(c.foreground and c.structure == "MYO" for c in drawn)
    assert all(truth[round(c.y), round(c.x)] == 2 != thin[round(c.y), round(c.x)] for c in drawn)
    # the missed piece is an arc of the ring (radius 14 to 22 px round (100, 90), right of x = 105): the stroke
    # follows its middle round the bend from one end to the other, as a clinician paints it
    radii = [np.hypot(c.x - 100, c.y - 90) for c in drawn]
    assert 17 <= np.median(radii) <= 19 and 16 <= min(radii[2:-2]) and max(radii[2:-2]) <= 20
    missed_rows = np.nonzero(((truth == 2) & (thin == 0)).any(axis=1))[0]
    assert max(c.y for c in drawn) - min(c.y for c in drawn) > 0.75 * (missed_rows.max() - missed_rows.min())


def test_the_simulated_clinician_boxes_a_missed_structure_only():
    truth = _rings()
    lost = truth.copy()
    lost[truth == 3] = 0
    box = simulated_box(lost, truth)
    ys, xs = np.nonzero(truth == 3)
    assert box.structure == "RV" and box.x0 < xs.min() and box.x1 > xs.max() and box.y0 < ys.min()
    assert simulated_box(truth, truth) is None


def test_a_boxed_structure_stays_inside_its_box():
    labels = _rings()
    image = labels.astype(np.float32)
    probabilities = np.stack([(labels == k) * 1.0 for k in range(NUM_CLASSES)]).astype(np.float32)
    ys, xs = np.nonzero(labels == 3)
    box = Box(float(xs.min()), float(ys.min()), float(xs.max()), float((ys.min() + ys.max()) // 2), "RV")
    result = refine_by_network(AgreeingRefiner(), image, probabilities, labels, [], (1.5, 1.5), [box])
    ys, xs = np.nonzero(result.labels == 3)
    assert ys.max() <= box.y1 and (result.labels == 3).sum() > 50
    assert np.array_equal(result.labels[labels != 3], labels[labels != 3])  # the others are left alone


def test_refinement_without_clicks_or_with_a_click_off_the_slice_is_refused():
    labels = _rings()
    probabilities = np.stack([(labels == k) * 1.0 for k in range(NUM_CLASSES)]).astype(np.float32)
    with pytest.raises(GmmSegError, match="no clicks"):
        refine_by_network(AgreeingRefiner(), labels * 1.0, probabilities, labels, [], (1.5, 1.5))
    with pytest.raises(GmmSegError, match="outside the slice"):
        refine_by_network(
            AgreeingRefiner(), labels * 1.0, probabilities, labels, [Click(500, 3, "LV", True)], (1.5, 1.5)
        )


def test_damaged_labels_change_one_structure():
    truth = _rings()
    for seed in range(6):
        damaged = corrupted(truth, torch.Generator().manual_seed(seed))
        changed = damaged != truth
        assert changed.any()
        # one structure grew (it is what every changed pixel now holds) or lost pixels (which all held it)
        assert any(np.all((damaged[changed] == value) | (truth[changed] == value)) for value in (1, 2, 3))


@pytest.mark.slow
def test_the_refiner_stage_learns_from_the_segmenters_own_labels(small_phantom, shipped_model):
    """Examples are the heart slices of every stack, and the slices the segmenter draws heart on where the expert drew
    none, seen as stored and through other scanners, with the segmenter's probabilities; batches are windows moved
    and turned together with their expert labels."""
    from GmmSegLib.training import refiner_stage

    model, _entry = shipped_model  # a trained segmenter finds the phantom's heart whatever the tests ran before
    image, truth = small_phantom.image.frame_volume(0), small_phantom.labels[0]
    examples = refinement_examples(model, [(image, truth)], torch.device("cpu"), seed=1)
    heart_slices = np.flatnonzero((truth > 0).any(axis=(1, 2)))
    assert len(examples.images) == len(heart_slices) * (1 + refiner_stage.SITE_VARIANTS)
    side = WINDOW_SIZE + 2 * refiner_stage.WINDOW_MARGIN
    assert examples.probabilities.shape[1:] == (NUM_CLASSES, side, side)
    # the expert draws nothing on the first heart slice (as above the base): where the segmenter still draws heart
    # there, the slice stays an example, its right answer empty
    unlabelled = truth.copy()
    unlabelled[heart_slices[0]] = 0
    erasing = refinement_examples(model, [(image, unlabelled)], torch.device("cpu"), seed=1)
    empty = [not bool(window.any()) for window in erasing.truth]
    assert len(erasing.images) == len(examples.images) and sum(empty) == 1 + refiner_stage.SITE_VARIANTS
    blind = GmmSegModel(handedness=False)  # a localiser that sees background everywhere finds no heart:
    with torch.no_grad():  # the expert's labels place it, and the stage still learns from every stack
        blind.localiser.out.bias.copy_(torch.tensor([100.0, 0.0, 0.0, 0.0]))
    assert len(refinement_examples(blind, [(image, truth)], torch.device("cpu"), seed=1).images) >= len(
        heart_slices
    ) * (1 + refiner_stage.SITE_VARIANTS)
    batch = draw_refinement_batch(examples, 4, torch.Generator().manual_seed(0))
    assert batch.images.shape == (4, WINDOW_SIZE, WINDOW_SIZE) and batch.truth.shape == (4, WINDOW_SIZE, WINDOW_SIZE)
    # the expert labels came along with their image: the LV (1) lies where the phantom's bright blood pool is
    for image_window, labels_window in zip(batch.images, batch.truth, strict=True):
        if (labels_window == 1).any() and (labels_window == 2).any():
            assert float(image_window[labels_window == 1].mean()) > float(image_window[labels_window == 2].mean())


def test_a_model_with_a_click_refiner_round_trips_and_older_models_load_without_one(tmp_path):
    model = GmmSegModel(handedness=False, refiner=True)
    path = tmp_path / "with_refiner.pt"
    save_model(model, path)
    loaded, _ = load_model(path)
    assert isinstance(loaded.refiner, ClickRefiner)
    for name, tensor in model.refiner.state_dict().items():
        torch.testing.assert_close(tensor, loaded.refiner.state_dict()[name], msg=name)
    older = GmmSegModel(handedness=False)
    older.config.pop("refiner")  # a checkpoint written before the refiner existed has no such key
    save_model(older, tmp_path / "older.pt")
    assert load_model(tmp_path / "older.pt")[0].refiner is None


def test_a_models_click_refiner_is_loaded_once_and_not_at_all_when_its_entry_says_it_has_none(tmp_path, monkeypatch):
    import json

    from panel_steps import model_with_click_refiner

    from GmmSegLib.model import bundle, registry

    loads = []
    load = bundle.load_model
    monkeypatch.setattr(bundle, "load_model", lambda *arguments: loads.append(arguments) or load(*arguments))
    monkeypatch.setattr(registry, "_loaded_refiners", {})
    shipped = registry.default_entry()
    assert shipped.record["click_refiner"] is False
    assert registry.click_refiner_of(shipped.sha256) is None and loads == []  # the shipped model: nothing loaded

    model_with_click_refiner(tmp_path / "models")
    monkeypatch.setenv(registry.MODELS_ENV, str(tmp_path / "models"))
    sha256 = json.loads((tmp_path / "models" / "Models.json").read_text())["models"][0]["sha256"]
    first, again = registry.click_refiner_of(sha256), registry.click_refiner_of(sha256)
    assert isinstance(first, ClickRefiner) and again is first and len(loads) == 1
