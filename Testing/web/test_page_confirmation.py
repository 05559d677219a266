"""The page's "Confirm ED/ES and slices" (GmmSegLib.web.reader_confirmation): the fields it shows for a cine's
indices, and the reader's choices it makes of them as edited (no browser needed: plain state)."""

from __future__ import annotations

import pytest

from GmmSegLib.clinical.indices import clinical_indices
from GmmSegLib.clinical.reader_choices import ReaderChoices
from GmmSegLib.core.errors import GmmSegError
from GmmSegLib.web.reader_confirmation import (
    PAGE_FIELDS,
    choices_from_page,
    confirmation_state,
    frame_field,
    limit_field,
    toggled_exclusion,
)


@pytest.fixture(scope="module")
def indices(small_phantom) -> dict:
    """The phantom cine's indices as a result holds them (its own labels; ES at frame 2)."""
    return clinical_indices(small_phantom.labels, small_phantom.image.spacing_xyz).to_dict()


def test_the_section_shows_the_frames_and_limits_counted_with_the_models_beside_them(indices):
    state = confirmation_state(indices, frames=4)
    assert state["confirm_usable"] and state["confirm_note"].startswith("The model's choices")
    assert state[frame_field("ES")] == str(indices["es_frame"]) == "2"
    assert state[f"model_{frame_field('ES')}"] == "model: 2"
    lv_ed = indices["slice_limits"]["LV ED"]
    assert (state[limit_field("LV ED", "first")], state[limit_field("LV ED", "last")]) == (
        str(lv_ed["first"]),
        str(lv_ed["last"]),
    )
    assert state[f"model_{limit_field('LV ED', 'first')}"].startswith(f"model: {lv_ed['first']}-{lv_ed['last']}")
    assert set(PAGE_FIELDS) <= set(state)
    # a single stack, or indices that could not be computed: nothing to confirm, and the note says why
    assert not confirmation_state(indices, frames=1)["confirm_usable"]
    assert "need a cine" in confirmation_state(indices, frames=1)["confirm_note"]
    broken = confirmation_state({"error": "no LV cavity at ES"}, frames=4)
    assert not broken["confirm_usable"] and "no LV cavity at ES" in broken["confirm_note"]


def test_the_fields_as_edited_become_the_readers_choices_and_the_models_values_stay_the_models(indices):
    page = confirmation_state(indices, frames=4)
    assert choices_from_page(page, indices, ReaderChoices()) == (ReaderChoices(), "the model's choices")
    lv_ed = indices["slice_limits"]["LV ED"]
    edited = {
        **page,
        frame_field("ES"): "1",
        limit_field("LV ED", "first"): str(lv_ed["first"] + 1),
    }
    kept = ReaderChoices(excluded={"ED": [3]})  # an exclusion made before stays
    choices, description = choices_from_page(edited, indices, kept)
    assert choices.es_frame == 1 and choices.ed_frame is None
    assert choices.limits == {"LV ED": (lv_ed["first"] + 1, lv_ed["last"])} and choices.excluded == {"ED": [3]}
    assert description == f"ES frame 1; LV ED slices {lv_ed['first'] + 1}-{lv_ed['last']}; ED slice 3 excluded"
    with pytest.raises(GmmSegError, match="ED frame: a whole number is needed"):
        choices_from_page({**page, frame_field("ED"): ""}, indices, ReaderChoices())


def test_a_slice_typed_is_excluded_at_its_phase_or_counted_again_and_the_section_lists_them(indices):
    chosen = ReaderChoices(es_frame=1, limits={"LV ED": (1, 8)})
    excluded, description = toggled_exclusion(chosen, "ED", "3")
    assert excluded.excluded == {"ED": [3]} and description == "ED slice 3 excluded"
    assert (excluded.es_frame, excluded.limits) == (1, {"LV ED": (1, 8)}) and chosen.excluded == {}  # others kept
    assert confirmation_state(indices, 4, excluded)["excluded_slices"] == "Excluded slices: ED 3"
    again, description = toggled_exclusion(excluded, "ED", 3)
    assert again.excluded == {"ED": []} and description == "ED slice 3 included again"
    assert confirmation_state(indices, 4, again)["excluded_slices"] == "Excluded slices: none"
    with pytest.raises(GmmSegError, match="slice to exclude: a whole number"):
        toggled_exclusion(chosen, "ES", "")
    with pytest.raises(GmmSegError, match="choose ED or ES"):
        toggled_exclusion(chosen, "mid", "3")
