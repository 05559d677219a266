"""Findings that make a segmentation implausible as a heart, on phantoms with known answers."""

from __future__ import annotations

import numpy as np

from GmmSegLib.clinical.plausibility import implausible_findings
from GmmSegLib.core.labels import LV, MYO


def test_a_phantom_heart_is_plausible(small_phantom):
    assert implausible_findings(small_phantom.labels, small_phantom.image.spacing_xyz) == []


def test_nothing_segmented_is_a_finding_and_names_the_frames(small_phantom):
    labels = small_phantom.labels.copy()
    labels[1:3] = 0
    assert implausible_findings(labels, small_phantom.image.spacing_xyz) == [
        "nothing was segmented: no heart was found in the image (frames 1-2)"
    ]
    assert implausible_findings(labels[1:2], small_phantom.image.spacing_xyz) == [
        "nothing was segmented: no heart was found in the image"
    ]


def test_an_lv_missing_or_without_its_wall_is_a_finding(small_phantom):
    spacing = small_phantom.image.spacing_xyz
    no_lv = np.where(small_phantom.labels[:1] == LV, 0, small_phantom.labels[:1])
    assert implausible_findings(no_lv, spacing) == ["no LV cavity was segmented"]
    no_wall = np.where(small_phantom.labels[:1] == MYO, 0, small_phantom.labels[:1])
    (finding,) = implausible_findings(no_wall, spacing)
    assert finding.startswith("the LV cavity is not ringed by myocardium")


def test_volumes_no_human_heart_has_are_findings(small_phantom):
    """The same labels on a grid ten times too fine in-plane (a header read as 0.14 mm voxels)."""
    sx, sy, sz = small_phantom.image.spacing_xyz
    findings = implausible_findings(small_phantom.labels[:1], (sx / 10, sy / 10, sz))
    assert findings and all("outside the range of human hearts" in finding for finding in findings)
